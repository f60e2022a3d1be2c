"""The observability metrics on a running stack: per-source receipt time
and accepted counts at the ingress (a 401 moves neither), configured
silence thresholds, HubSpot budget gauges and consumer lag (records and
seconds, per group) at the worker, held counts and ages per tenant at the
filter, process_* and build_info everywhere."""
import json
import os
import subprocess
import time

from harness import (BUILD, DEMO_TOKEN, FILTERED_TOKEN, HUBSPOT_TOKEN, Checks, Stack,
                     http_request, load_payloads, wait_for)


def samples(url):
    """{(name, frozenset(labels)): value} of one /metrics."""
    _, _, body = http_request(url, "GET", "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, val = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels = frozenset(
            tuple(kv.split("=", 1)) for kv in
            (rest[:-1].replace('"', "").split(",") if rest else []))
        out[(name, labels)] = float(val)
    return out


def get(s, name, **labels):
    return s.get((name, frozenset(labels.items())))


def main():
    c = Checks("obs_metrics_live")
    with Stack() as st:
        st.broker()
        st.emulator()

        def mutate(cfg):
            cfg["worker"]["dlq_watch_interval_ms"] = 500
            for t in cfg["tenants"]:
                if t["id"] == "demo-filtered":
                    t["alerting"] = {"silence_seconds": 900}
                if t["id"] == "demo":
                    t["sources"][0]["silence_seconds"] = 3600
        cfg = st.config(mutate)
        ing = st.ingress(cfg)
        w = st.worker(cfg, "obs", "EMAIL_SENT,EMAIL_REPLY,EMAIL_OPEN")
        f = st.filter(cfg)

        s = samples(ing)
        src = dict(tenant="demo", source="demo-user")
        fsrc = dict(tenant="demo-filtered", source="demo-filtered-user")
        c.eq(get(s, "leadsync_ingress_accepted_total", **src), 0.0,
             "accepted counter exists at 0 before any webhook")
        c.eq(get(s, "leadsync_ingress_last_received_timestamp_seconds", **src),
             None, "no receipt time before any webhook")
        c.eq(get(s, "leadsync_ingress_source_silence_threshold_seconds",
                 **src), 3600.0, "source silence_seconds wins")
        c.eq(get(s, "leadsync_ingress_source_silence_threshold_seconds",
                 **fsrc), 900.0, "tenant alerting.silence_seconds")

        # A 401 is nobody's source: nothing moves.
        st_, _, _ = http_request(ing, "POST", "/v1/webhooks/smartlead/nope",
                                 b"{}", {"Content-Type": "application/json"})
        c.eq(st_, 401, "unknown token")
        payloads = load_payloads()
        t0 = time.time()
        for name in ("EMAIL_SENT", "EMAIL_REPLY", "EMAIL_OPEN"):
            st_, _, _ = http_request(ing, "POST",
                                     "/v1/webhooks/smartlead/" + DEMO_TOKEN,
                                     payloads[name],
                                     {"Content-Type": "application/json"})
            c.eq(st_, 200, f"{name} accepted")
        st_, _, _ = http_request(ing, "POST",
                                 "/v1/webhooks/smartlead/" + FILTERED_TOKEN,
                                 payloads["EMAIL_REPLY"],
                                 {"Content-Type": "application/json"})
        c.eq(st_, 200, "filtered tenant's reply accepted")
        t1 = time.time()
        s = samples(ing)
        c.eq(get(s, "leadsync_ingress_accepted_total", **src), 3.0,
             "accepted counts the source's 200s")
        ts = get(s, "leadsync_ingress_last_received_timestamp_seconds", **src)
        c.true(ts is not None and t0 - 1 <= ts <= t1 + 1,
               "last receipt time is when the source last sent", f"{ts} "
               f"not in [{t0}, {t1}]")

        # Worker: budgets per tenant from the config, lag per group.
        def worker_has_lag():
            s = samples(w.url)
            lag = [k for k in s if k[0] == "leadsync_worker_consumer_lag"]
            lag_s = [k for k in s
                     if k[0] == "leadsync_worker_consumer_lag_seconds"]
            return s if lag and lag_s else None
        s = wait_for(worker_has_lag, 30, what="lag gauges")
        c.true(all(dict(k[1]).get("group") == "obs" for k in s
                   if k[0].startswith("leadsync_worker_consumer_lag")),
               "lag series carry the group")
        c.eq(get(s, "leadsync_hubspot_daily_limit", tenant="demo"), 625000.0,
             "daily limit from the config")
        left = get(s, "leadsync_hubspot_daily_remaining", tenant="demo")
        c.true(left is not None and 0 < left <= 625000,
               "daily remaining within the budget", str(left))
        c.eq(get(s, "leadsync_hubspot_window_limit", tenant="demo"), 190.0,
             "window limit from the config")
        c.eq(get(s, "leadsync_hubspot_daily_paused", tenant="demo"), 0.0,
             "not paused")
        c.eq(get(s, "leadsync_worker_oldest_deferred_age_seconds",
                 tenant="demo"), 0.0, "nothing deferred")

        # Filter: the filtered tenant's reply is held (category unknown).
        def held():
            s = samples(f.url)
            n = get(s, "leadsync_filter_held_events", tenant="demo-filtered")
            return s if n and n >= 1 else None
        s = wait_for(held, 40, what="a held event at the filter")
        age = get(s, "leadsync_filter_oldest_held_age_seconds",
                  tenant="demo-filtered")
        c.true(age is not None and 0 <= age < 120, "oldest held age",
               str(age))
        c.eq(get(s, "leadsync_filter_held_max_age_seconds"), 30 * 86400.0,
             "held max age from held_max_age_days")
        c.true(any(k[0] == "leadsync_worker_consumer_lag_seconds" and
                   dict(k[1]).get("group") == "filter" for k in s),
               "the filter role reports its lag too (group filter)")

        # A revoked token sends the tenant's events to the DLQ (reason
        # auth); the filter role's DLQ watch reports them per tenant.
        s = samples(f.url)
        c.eq(get(s, "leadsync_dlq_pending_events", tenant="demo"), 0.0,
             "empty DLQ: nothing pending")
        c.eq(get(s, "leadsync_dlq_oldest_age_seconds", tenant="demo"), 0.0,
             "empty DLQ: age 0")
        st.hubspot_faults({"revoke_tokens": [HUBSPOT_TOKEN]})
        body = json.loads(payloads["EMAIL_SENT"])
        body["stats_id"] = "obs-dlq-1"
        body["to_email"] = "dlq.lead@obs-example.com"
        st_, _, _ = http_request(ing, "POST",
                                 "/v1/webhooks/smartlead/" + DEMO_TOKEN,
                                 json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
        c.eq(st_, 200, "event for the revoked token accepted")

        def dlq_seen():
            s = samples(f.url)
            n = get(s, "leadsync_dlq_pending_events", tenant="demo")
            return s if n and n >= 1 else None
        s = wait_for(dlq_seen, 60, what="the DLQ watch sees the event")
        c.true((get(s, "leadsync_dlq_pending_records") or 0) >= 1,
               "pending records counted")
        age = get(s, "leadsync_dlq_oldest_age_seconds", tenant="demo")
        c.true(age is not None and 0 <= age < 120, "oldest DLQ age", str(age))
        s = samples(w.url)
        c.true((get(s, "leadsync_worker_auth_failures_total", tenant="demo")
                or 0) >= 1, "auth failure counted (LeadsyncHubSpotAuthFailing)")
        st.hubspot_faults({"clear": True})

        # A replay commits leadsync-dlq-replay: nothing waits any more.
        r = subprocess.run([os.path.join(BUILD, "leadsync"), "--config", cfg,
                            "dlq", "replay", "--tenant", "demo"],
                           capture_output=True, text=True, env=st.env,
                           timeout=120)
        c.eq(r.returncode, 0, "dlq replay: " + r.stderr[-300:])

        def dlq_empty():
            s = samples(f.url)
            return s if get(s, "leadsync_dlq_pending_events",
                            tenant="demo") == 0 else None
        s = wait_for(dlq_empty, 60, what="the DLQ watch sees the replay")
        c.eq(get(s, "leadsync_dlq_oldest_age_seconds", tenant="demo"), 0.0,
             "after the replay: age 0")

        for name, url in (("ingress", ing), ("worker", w.url),
                          ("filter", f.url)):
            s = samples(url)
            c.true((s.get(("process_resident_memory_bytes", frozenset()))
                    or 0) > 1e6, f"{name}: process RSS")
            c.true((s.get(("process_open_fds", frozenset())) or 0) >= 5,
                   f"{name}: open fds")
            start = s.get(("process_start_time_seconds", frozenset())) or 0
            c.true(time.time() - 600 < start <= time.time() + 1,
                   f"{name}: start time", str(start))
            c.true(any(k[0] == "leadsync_build_info" and v == 1
                       for k, v in s.items()), f"{name}: build_info")
    c.done()


if __name__ == "__main__":
    main()
