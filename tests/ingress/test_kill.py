"""The ingress dies under load. SIGKILL: every request that got 200 is in
Kafka (counted by event id). SIGTERM: readyz turns 503, every request gets
an answer (200 or 503), nothing acknowledged is lost, exit code 0."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Checks, Stack, http_request, load_payloads, wait_for  # noqa: E402
from ingress_lib import Load, kafka_ids  # noqa: E402

c = Checks("ingress_kill")


def main():
    p = load_payloads()
    with Stack() as st:
        st.broker()
        cfg = st.config()

        # -- SIGKILL in the middle of the load ----------------------------
        base = st.ingress(cfg)
        load = Load(base, p["EMAIL_SENT"], threads=6, timeout=10).start()
        wait_for(lambda: len(load.acked) > 300, 30, what="load running")
        st.ingress_proc.p.kill()
        st.ingress_proc.p.wait()
        time.sleep(0.3)  # let the generator see the dead socket
        load.join()
        killed_acked = set(load.acked)
        have = kafka_ids(st, ["smartlead.email_sent"])
        lost = killed_acked - have
        print(f"sigkill: sent={load.sent} acked={len(killed_acked)} "
              f"status={load.status} unanswered={load.unanswered} "
              f"refused={load.refused} lost={len(lost)}", flush=True)
        c.true(len(killed_acked) > 300, "load was acknowledged before the kill",
               len(killed_acked))
        c.eq(len(lost), 0, "SIGKILL: every 200 is in Kafka")

        # -- SIGTERM in the middle of the load ----------------------------
        base = st.ingress(cfg)
        load = Load(base, p["EMAIL_SENT"], threads=6, stop_on_503=True,
                    timeout=30).start()
        wait_for(lambda: len(load.acked) > 300, 30, what="load running")
        st.ingress_proc.signal(signal.SIGTERM)
        # readyz flips to 503 while draining (or the port is already closed).
        # The signal flag is read by the main loop, so poll until it has.
        def drained():
            try:
                return http_request(base, "GET", "/readyz", timeout=5)[0] == 503
            except OSError:
                return True  # the listener is closed: draining is over
        c.true(wait_for(drained, 10, interval=0.02, what="readyz 503"),
               "readyz 503 while draining (or closed)")
        rc = st.ingress_proc.p.wait(30)
        load.join()
        have = kafka_ids(st, ["smartlead.email_sent"])
        lost = load.acked - have
        print(f"sigterm: sent={load.sent} acked={len(load.acked)} "
              f"status={load.status} unanswered={load.unanswered} "
              f"refused={load.refused} lost={len(lost)}", flush=True)
        c.eq(rc, 0, "SIGTERM: exit code 0")
        c.eq(load.unanswered, 0, "SIGTERM: no request left without a response")
        c.eq(len(lost), 0, "SIGTERM: nothing acknowledged is lost")
        c.true(set(load.status) <= {200, 503}, "only 200 and 503 answers",
               load.status)
    c.done()


main()
