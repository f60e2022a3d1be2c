"""Log lines across processes: every daemon's JSON lines start with ts,
level, component, msg (in that order); one event can be followed from the
ingress to the worker's HubSpot calls by its event id; the traceparent the
sender gave reaches the log lines of the HubSpot calls made for it."""
import json
import time

from harness import (ALL_EVENTS, DEMO_TOKEN, Checks, Stack, http_request,
                     load_payloads, wait_for)

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEAD = ["ts", "level", "component", "msg"]


def lines(proc):
    out = []
    with open(proc.log, errors="replace") as f:
        for raw in f:
            raw = raw.strip()
            if raw.startswith("{"):
                out.append((raw, json.loads(raw)))
    return out


def main():
    c = Checks("obs_logs")
    with Stack() as st:
        st.broker()
        st.emulator()
        cfg = st.config()
        ing = st.ingress(cfg)
        w = st.worker(cfg, "all", ALL_EVENTS)
        f = st.filter(cfg)
        worker = next(p for p in st.procs if p.name == "worker-all")
        ingress = st.ingress_proc

        # HubSpot fails every call until the faults are cleared.
        st.hubspot_faults({"error_rate": 1.0, "error_statuses": [503]})
        s, _, body = http_request(
            ing, "POST", "/v1/webhooks/smartlead/" + DEMO_TOKEN,
            load_payloads()["EMAIL_REPLY"],
            {"Content-Type": "application/json", "traceparent": TRACE})
        c.eq(s, 200, "event accepted")
        event_id = json.loads(body)["event_id"]
        # A rejected request is logged too (with the fields in place).
        http_request(ing, "POST", "/v1/webhooks/smartlead/" + DEMO_TOKEN,
                     b'{"event_type": 5', {"Content-Type": "application/json"})

        def retry_line():
            for raw, o in lines(worker):
                if o.get("msg") == "hubspot call failed, retrying" and \
                        event_id in o.get("event_ids", ""):
                    return o
            return None
        o = wait_for(retry_line, 60, what="a retry line naming the event")
        c.eq(o.get("traceparent"), TRACE, "the retry line carries the "
             "sender's traceparent")
        c.eq(o.get("tenant"), "demo", "and the tenant")
        st.hubspot_faults({"clear": True})

        def synced():
            _, _, b = http_request(w.url, "GET", "/metrics")
            return "leadsync_worker_synced_total{" in b.decode()
        wait_for(synced, 60, what="the event synced once HubSpot recovered")

        def rejected_line():
            return any(o.get("msg") == "request rejected"
                       for _, o in lines(ingress))
        wait_for(rejected_line, 10, what="the ingress's rejection line")
        total = 0
        for p in st.procs:
            if p.name == "hubspot-emulator":
                continue  # a dev stand-in with its own log format
            for raw, o in lines(p):
                total += 1
                c.eq(list(o)[:4], HEAD, f"{p.name}: first fields of {raw[:120]}")
                c.true(o.get("component"), f"{p.name}: component set")
        c.true(total >= 10, "log lines read", str(total))
        # Every worker line naming the event does so in an id field.
        for raw, o in lines(worker):
            if event_id in raw:
                c.true(o.get("event_id") == event_id or
                       event_id in o.get("event_ids", ""),
                       "the event is named by event_id/event_ids", raw[:200])
    c.done()


if __name__ == "__main__":
    main()
