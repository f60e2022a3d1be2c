"""Measures the filter role's memory per held lead (not a test: prints).

    LS_BUILD_DIR=<release build> /usr/bin/python3 tests/filter/measure_memory.py [LEADS]

Produces one held EMAIL_SENT (the shared sample, about 2.3 KB) per lead
straight to leadsync.held, waits until the filter holds them all, and
reports the RSS growth."""
import json
import os
import sys
import time
import urllib.request

from harness import Stack, wait_for, FIXTURES

LEADS = int(sys.argv[1]) if len(sys.argv) > 1 else 100000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def held(url):
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("leadsync_filter_held "):
                return int(float(line.split()[1]))
    return 0


with Stack() as st:
    st.broker(partitions=96)  # the mock keeps ~5 MB per partition
    cfg = st.config()
    f = st.filter(cfg)
    time.sleep(3)  # let the first assignment settle before the baseline
    base = rss_kib(f.pid)
    sample = json.load(open(os.path.join(FIXTURES, "smartlead", "EMAIL_SENT.json")))
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": st.bootstrap, "linger.ms": 20,
                  "compression.type": "lz4"})
    size = 0
    for i in range(LEADS):
        lead = f"mem{i:06d}@memory-example.com"
        sample["to_email"] = lead
        sample["stats_id"] = f"mem-{i}"
        raw = json.dumps(sample).encode()
        size += len(raw)
        hdrs = [("ce_id", f"{i:032x}".encode()), ("ce_tenant", b"demo-filtered"),
                ("ce_type", b"ai.smartlead.email_sent"),
                ("ce_time", b"2025-03-28T08:15:00.123000Z"),
                ("ls_original_topic", b"smartlead.email_sent")]
        while True:
            try:
                p.produce("leadsync.held", raw, f"demo-filtered:1234567:{lead}",
                          headers=hdrs)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(120)
    wait_for(lambda: held(f.url) >= LEADS, 600, 0.5, "all records held")
    after = rss_kib(f.pid)
    grown = after - base
    print(f"held leads={LEADS} payload bytes={size} (avg {size // LEADS} B) "
          f"RSS before={base // 1024} MiB after={after // 1024} MiB "
          f"growth={grown / 1024:.1f} MiB -> {grown * 1024 / LEADS:.0f} B per held lead, "
          f"{grown / 1024 * 100000 / LEADS:.0f} MiB per 100,000 held leads",
          flush=True)
