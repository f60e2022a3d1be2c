"""Hostile connections: 1000 concurrent slow clients (headers trickling in,
never finished) do not stop a normal client from being served; the
per-connection timeout closes them; the connection limit is enforced."""
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_TOKEN, Checks, Stack, load_payloads, wait_for  # noqa: E402
from ingress_lib import HOOK, jbody, post, raise_nofile  # noqa: E402

c = Checks("ingress_slow_clients")
SLOW = 1000


def open_slow(base, n):
    u = urllib.parse.urlparse(base)
    socks = []
    for _ in range(n):
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        s.sendall(f"POST {HOOK}{DEMO_TOKEN} HTTP/1.1\r\nHost: x\r\n"
                  .encode())
        socks.append(s)
    return socks


def closed_by_server(s, wait=0.0):
    s.settimeout(wait)
    try:
        return s.recv(4096) == b""
    except (socket.timeout, BlockingIOError):
        return False
    except OSError:
        return True


def main():
    raise_nofile()
    p = load_payloads()
    with Stack() as st:
        st.broker()
        cfg = st.config(lambda cfg: cfg["ingress"].update(
            connection_timeout_s=3, max_connections=1500))
        base = st.ingress(cfg)
        t0 = time.monotonic()
        socks = open_slow(base, SLOW)
        # Trickle one more header line into each: still slow, still open.
        for s in socks:
            s.sendall(b"X-Slow: 1\r\n")
        served = []
        for i in range(5):
            s, _, resp = post(base, p["EMAIL_SENT"], timeout=10)
            served.append(s)
        open_now = sum(not closed_by_server(s) for s in socks)
        c.eq(served, [200] * 5, f"normal client served next to {SLOW} slow "
             "connections")
        c.true(open_now >= SLOW * 0.95, "slow connections were all open "
               "while the normal client was served", open_now)
        print(f"slow: {SLOW} slow connections opened in "
              f"{time.monotonic() - t0:.2f}s, {open_now} still open while "
              "serving", flush=True)
        # The per-connection timeout (3 s) closes every one of them.
        wait_for(lambda: all(closed_by_server(s) for s in socks), 20,
                 interval=0.5, what="slow connections timed out")
        c.true(True, "per-connection timeout closed the slow clients")
        for s in socks:
            s.close()
        s, _, _ = post(base, p["EMAIL_OPEN"])
        c.eq(s, 200, "still serving afterwards")
        st.ingress_proc.stop()
        c.eq(st.ingress_proc.p.returncode, 0, "clean exit (no leak reports)")

        # -- the connection limit ----------------------------------------
        # At max_connections MHD stops accepting: further clients wait in
        # the listen backlog until a slot frees up.
        cfg = st.config(lambda cfg: cfg["ingress"].update(
            max_connections=20, connection_timeout_s=30))
        base = st.ingress(cfg)
        socks = open_slow(base, 20)
        try:
            s, _, _ = post(base, p["EMAIL_SENT"], timeout=1.5)
        except OSError as e:
            s = type(e).__name__
        c.true(s != 200, "at the connection limit a new client is not served",
               s)
        for s in socks:
            s.close()
        s, _, _ = post(base, p["EMAIL_SENT"], timeout=10)
        c.eq(s, 200, "served once the slow connections are gone")
    c.done()


main()
