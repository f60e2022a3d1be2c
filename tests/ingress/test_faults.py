"""Kafka unreachable: the dev broker taken down (SIGUSR1) turns /readyz and
new webhooks into 503 with Retry-After; once it is back (SIGUSR2) requests
succeed again and every event that was ever acknowledged is in Kafka."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Checks, Stack, http_request, load_payloads, wait_for  # noqa: E402
from ingress_lib import Load, event_with, jbody, kafka_ids, post  # noqa: E402

c = Checks("ingress_faults")


def ready(base):
    return http_request(base, "GET", "/readyz", timeout=10)[0]


def main():
    p = load_payloads()
    with Stack() as st:
        st.broker()
        cfg = st.config(lambda cfg: cfg["ingress"].update(
            kafka_timeout_ms=2500))
        base = st.ingress(cfg)
        s, _, _ = post(base, p["EMAIL_SENT"])
        c.eq(s, 200, "accepted while the broker is up")

        load = Load(base, p["EMAIL_SENT"], threads=3).start()
        wait_for(lambda: load.count() > 50, 20, what="load running")
        st.broker_proc.signal(signal.SIGUSR1)
        wait_for(lambda: ready(base) == 503, 20, what="readyz 503")
        c.true(True, "readyz 503 while kafka is unreachable")
        t0 = time.monotonic()
        s, h, resp = post(base, event_with(p["EMAIL_OPEN"],
                                           stats_id="while-down"))
        took = time.monotonic() - t0
        c.eq(s, 503, "webhook while the broker is down: 503")
        c.true(int(h.get("retry-after", "0")) >= 1, "503 has Retry-After", h)
        c.true(jbody(resp).get("error") in ("timeout", "kafka"),
               "503 body names the cause", resp)
        c.true(took < 10, "503 within the configured deadline (+ slack)",
               f"{took:.1f}s")
        # The load's own requests time out at the same deadline as the one
        # above and may be recorded a moment after it: poll, still down.
        wait_for(lambda: load.status.get(503, 0) >= 1, 20,
                 what="the load's 503s while down")
        down_503 = load.status.get(503, 0)

        st.broker_proc.signal(signal.SIGUSR2)
        wait_for(lambda: ready(base) == 200, 30, what="readyz 200 again")
        c.true(True, "readyz 200 once kafka is back")
        n0 = len(load.acked)
        wait_for(lambda: len(load.acked) > n0 + 50, 30,
                 what="acks after recovery")
        load.join()
        # Another topic than the load's: its partition leader may be known
        # a moment later, and until then the answer is 503 + Retry-After,
        # which a sender retries. Retry the way Smartlead would.
        after = []
        wait_for(lambda: after.append(post(base, event_with(
            p["EMAIL_OPEN"], stats_id="after-up"))[0]) or after[-1] == 200,
            30, 0.5, what="a new webhook accepted after recovery")
        c.eq(after[-1], 200, "accepted again after the broker is back")
        c.true(set(after) <= {200, 503}, "only 503 (retryable) before the 200",
               after)
        c.true(load.status.get(503, 0) >= down_503 >= 1,
               "load saw 503s while down", load.status)
        c.eq(load.unanswered, 0, "every load request got an answer")

        have = kafka_ids(st, ["smartlead.email_sent"], timeout=20)
        missing = load.acked - have
        print(f"faults: acked={len(load.acked)} status={load.status} "
              f"missing={len(missing)}", flush=True)
        c.eq(len(missing), 0, "nothing acknowledged is missing from Kafka")
        st.ingress_proc.stop()
        c.eq(st.ingress_proc.p.returncode, 0, "clean exit")
    c.done()


main()
