"""The dev broker speaks real Kafka: topics, kcat, consumer groups, faults."""
import os
import signal
import subprocess
import time

from harness import Checks, Stack, wait_for, ALL_EVENTS

c = Checks("devbroker")
with Stack() as st:
    bs = st.broker(partitions=4)
    c.true("," in bs and "127.0.0.1:" in bs, "bootstrap lists the brokers", bs)

    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": bs}).list_topics(timeout=10)
    c.eq(len(md.brokers), 3, "three brokers")
    want = ["smartlead." + e.lower() for e in ALL_EVENTS] + [
        "smartlead.unknown", "smartlead.quarantine", "leadsync.lead_state",
        "leadsync.held", "leadsync.dlq", "leadsync.sync_log", "leadsync.ledger",
        "leadsync.filter_state"]
    for t in want:
        c.true(t in md.topics, f"topic {t} exists")
        if t in md.topics:
            c.eq(len(md.topics[t].partitions), 4, f"{t} partition count")

    # kcat produces with a key; a consumer group reads it back.
    r = subprocess.run(["kcat", "-P", "-b", bs, "-t", "smartlead.email_sent",
                        "-k", "demo:1:a@example.com", "-H", "ce_id=abc"],
                       input=b'{"event_type":"EMAIL_SENT"}', timeout=30)
    c.eq(r.returncode, 0, "kcat produce exit code")
    r = subprocess.run(["kcat", "-C", "-b", bs, "-G", "kcat-group", "-X", "auto.offset.reset=earliest",
                        "smartlead.email_sent", "-c", "1", "-f", "%k|%h|%s",
                        "-q"], capture_output=True, timeout=60)
    c.eq(r.stdout.decode().strip(), 'demo:1:a@example.com|ce_id=abc|'
         '{"event_type":"EMAIL_SENT"}', "kcat consumer group reads the record")

    # Committed offsets survive a consumer restart (what workers rely on).
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True,
                  "acks": "all"})
    for i in range(10):
        p.produce("smartlead.email_open", key=f"k{i}", value=f"v{i}")
    c.eq(p.flush(15), 0, "idempotent producer flushed everything")

    def consume(n, group):
        cons = Consumer({"bootstrap.servers": bs, "group.id": group,
                         "auto.offset.reset": "earliest",
                         "enable.auto.commit": False,
                         "session.timeout.ms": 6000})
        cons.subscribe(["smartlead.email_open"])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            m = cons.poll(0.2)
            if m is not None and not m.error():
                got.append(m.value().decode())
        cons.commit(asynchronous=False)
        cons.close()
        return got

    first = consume(10, "g1")
    c.eq(sorted(first), sorted(f"v{i}" for i in range(10)), "group reads all")
    for i in range(10, 13):
        p.produce("smartlead.email_open", key=f"k{i}", value=f"v{i}")
    p.flush(15)
    second = consume(3, "g1")
    c.eq(sorted(second), ["v10", "v11", "v12"],
         "restarted group resumes after its committed offsets")

    # Brokers down: produce fails to be acknowledged; up: it goes through.
    st.broker_proc.signal(signal.SIGUSR1)

    def refused():
        import socket
        host, port = bs.split(",")[0].split(":")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return False
        except OSError:
            return True
    wait_for(refused, 10, what="brokers to stop listening")
    p2 = Producer({"bootstrap.servers": bs, "enable.idempotence": True,
                   "acks": "all", "message.timeout.ms": 1500})
    errs = []
    p2.produce("smartlead.email_reply", value=b"x",
               on_delivery=lambda err, msg: errs.append(err))
    p2.flush(10)
    c.true(len(errs) == 1 and errs[0] is not None,
           "delivery fails while brokers are down", repr(errs))
    st.broker_proc.signal(signal.SIGUSR2)
    wait_for(lambda: not refused(), 10, what="brokers to listen again")
    p3 = Producer({"bootstrap.servers": bs, "enable.idempotence": True,
                   "acks": "all", "message.timeout.ms": 20000})
    oks = []
    p3.produce("smartlead.email_reply", value=b"y",
               on_delivery=lambda err, msg: oks.append(err))
    p3.flush(25)
    c.eq(oks, [None], "delivery succeeds once brokers are back")

    rc = st.broker_proc.stop()
    c.eq(rc, 0, "devbroker exits 0 on SIGTERM")
c.done()
