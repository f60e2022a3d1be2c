"""Hostile connections (issue 12, finding 6), bounded loads on loopback:
- deadlines measured from accept: 1000 clients trickling their headers (never
  idle, so the idle timeout never fires) are closed by header_timeout_ms;
  clients trickling a body by request_timeout_ms; a normal client is served
  meanwhile;
- the per-address limit: one address gets max_connections_per_ip, the rest
  are closed at once;
- 30 trickling clients and 10,000 idle connects do not starve real requests;
- the body-bytes budget: 100 clients holding partial 2 MiB bodies get 503 +
  Retry-After past the budget, before sending a body byte; RSS is printed
  with the default budget and with an effectively unlimited one.
Loopback addresses 127.0.x.y stand for distinct clients."""
import os
import select
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_TOKEN, Checks, Stack, load_payloads, wait_for  # noqa: E402
from ingress_lib import HOOK, post, raise_nofile  # noqa: E402

c = Checks("ingress_slow_clients")
MIB = 1 << 20


def addr(base):
    u = urllib.parse.urlparse(base)
    return u.hostname, u.port


def connect(base, src, timeout=10):
    return socket.create_connection(addr(base), timeout=timeout,
                                    source_address=(src, 0))


def readable(s):
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(p.poll(0))


def closed_by_server(s):
    """True once the server closed s (EOF or reset); never blocks."""
    try:
        if not readable(s):
            return False
        return s.recv(65536) == b""
    except OSError:
        return True


def head(token=DEMO_TOKEN, length=None):
    h = (f"POST {HOOK}{token} HTTP/1.1\r\nHost: x\r\n"
         "Content-Type: application/json\r\n")
    if length is not None:
        h += f"Content-Length: {length}\r\n\r\n"
    return h.encode()


class Trickle:
    """Sends one byte to every socket every interval (never idle)."""

    def __init__(self, socks, byte=b"X", interval=0.5):
        self.socks = list(socks)
        self.byte = byte
        self.interval = interval
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.wait(self.interval):
            for s in self.socks:
                try:
                    s.send(self.byte)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.t.join(5)


def metric(base, name):
    from harness import http_request
    _, _, body = http_request(base, "GET", "/metrics")
    total = 0.0
    for ln in body.decode().splitlines():
        if ln.startswith(name):
            total += float(ln.rsplit(" ", 1)[1])
    return total


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def deadlines(st, p):
    cfg = st.config(lambda cfg: cfg["ingress"].update(
        header_timeout_ms=2000, request_timeout_ms=4000, max_connections=1500,
        max_connections_per_ip=8, connection_timeout_s=60))
    base = st.ingress(cfg)
    # 1000 header tricklers from 125 addresses, 8 each (the per-IP limit).
    t0 = time.monotonic()
    slow = []
    for i in range(1000):
        s = connect(base, f"127.0.1.{1 + i // 8}")
        s.sendall(head())
        slow.append(s)
    tr = Trickle(slow, b"X-Slow: 1\r\n"[0:1])
    served = [post(base, p["EMAIL_SENT"], timeout=20)[0] for _ in range(5)]
    c.eq(served, [200] * 5, "normal client served next to 1000 slow ones")
    # The per-address limit: 20 connects from one address, 8 stay.
    extra = [connect(base, "127.0.0.2") for _ in range(20)]
    wait_for(lambda: sum(closed_by_server(s) for s in extra) >= 12, 10,
             what="connections over the per-address limit closed")
    open_extra = sum(not closed_by_server(s) for s in extra)
    c.eq(open_extra, 8, "one address keeps max_connections_per_ip (8)")
    # Never idle, yet closed: the header deadline (2 s), not the idle
    # timeout (60 s).
    wait_for(lambda: all(closed_by_server(s) for s in slow), 20,
             interval=0.2, what="header tricklers closed by the deadline")
    took = time.monotonic() - t0
    c.true(took < 30, "1000 header tricklers closed long before the 60 s "
           "idle timeout", took)
    print(f"deadlines: 1000 header tricklers all closed {took:.1f}s after "
          "the first connect (header_timeout_ms 2000)", flush=True)
    tr.close()
    # Body tricklers: complete headers, a body that never completes.
    bodies = []
    for i in range(20):
        s = connect(base, f"127.0.2.{1 + i}")
        s.sendall(head(length=100000) + b"{")
        bodies.append(s)
    tr = Trickle(bodies, b" ")
    t1 = time.monotonic()
    wait_for(lambda: all(closed_by_server(s) for s in bodies), 20,
             interval=0.2, what="body tricklers closed by the deadline")
    print(f"deadlines: 20 body tricklers closed after "
          f"{time.monotonic() - t1:.1f}s (request_timeout_ms 4000)",
          flush=True)
    tr.close()
    c.true(metric(base, 'leadsync_ingress_deadline_closed_total{phase="body"}')
           >= 20, "deadline metric counts the body tricklers")
    c.true(metric(base,
                  'leadsync_ingress_deadline_closed_total{phase="headers"}')
           >= 1000, "deadline metric counts the header tricklers")
    for s in slow + extra + bodies:
        s.close()
    c.eq(post(base, p["EMAIL_OPEN"])[0], 200, "still serving afterwards")
    st.ingress_proc.stop()
    c.eq(st.ingress_proc.p.returncode, 0, "clean exit (no leak reports)")


def starvation(st, p):
    # 30 trickling clients against max_connections 30 starved everyone
    # before; with deadlines and the per-address limit real requests pass,
    # also while 10,000 idle connects arrive from one address.
    cfg = st.config(lambda cfg: cfg["ingress"].update(
        header_timeout_ms=2000, request_timeout_ms=4000, max_connections=30,
        max_connections_per_ip=4, connection_timeout_s=60))
    base = st.ingress(cfg)
    stop = threading.Event()
    held = []
    lock = threading.Lock()
    counts = {"idle_connects": 0, "idle_refused": 0, "trickle_connects": 0}

    def trickler(i):
        # Reconnects as soon as the server drops it; trickles its headers.
        while not stop.is_set():
            try:
                s = connect(base, f"127.0.3.{1 + i}", timeout=5)
                s.sendall(head()[:10])
            except OSError:
                continue
            with lock:
                counts["trickle_connects"] += 1
            while not stop.wait(0.5):
                try:
                    s.send(b"X")
                except OSError:
                    break
                if closed_by_server(s):
                    break
            s.close()

    def idler():
        for _ in range(10000):
            if stop.is_set():
                break
            try:
                s = socket.socket()
                s.setblocking(False)
                s.bind(("127.0.0.2", 0))
                s.connect_ex(addr(base))
                held.append(s)
                with lock:
                    counts["idle_connects"] += 1
            except OSError:
                with lock:
                    counts["idle_refused"] += 1

    threads = [threading.Thread(target=trickler, args=(i,), daemon=True)
               for i in range(30)]
    for t in threads:
        t.start()
    wait_for(lambda: counts["trickle_connects"] >= 30, 20,
             what="30 tricklers connected")
    it = threading.Thread(target=idler, daemon=True)
    it.start()
    lat, status = [], []
    start = time.monotonic()
    # Real requests for as long as the flood lasts, and at least two
    # deadline cycles of the tricklers.
    while (len(status) < 20 or it.is_alive()
           or time.monotonic() - start < 5):
        t0 = time.monotonic()
        try:
            s, _, _ = post(base, p["EMAIL_SENT"], timeout=30)
        except OSError as e:
            s = type(e).__name__
        status.append(s)
        lat.append(time.monotonic() - t0)
    it.join(60)
    ok = status.count(200)
    c.eq(ok, len(status), "every real request served next to 30 tricklers "
         "and 10,000 idle connects (max_connections 30)")
    c.true(counts["trickle_connects"] > 30, "the tricklers were cut by the "
           "deadline and came back", counts["trickle_connects"])
    lat.sort()
    print(f"starvation: real requests {ok}/{len(status)} answered 200 over "
          f"{time.monotonic() - start:.1f}s; latency median "
          f"{lat[len(lat) // 2]:.2f}s max {lat[-1]:.2f}s; "
          f"{counts['idle_connects']} idle connects "
          f"({counts['idle_refused']} refused locally), "
          f"{counts['trickle_connects']} trickler connects", flush=True)
    stop.set()
    for t in threads:
        t.join(10)
    for s in held:
        s.close()
    st.ingress_proc.stop()
    c.eq(st.ingress_proc.p.returncode, 0, "clean exit after the flood")


def budget_run(st, p, budget):
    def mutate(cfg):
        cfg["ingress"].update(header_timeout_ms=20000,
                              request_timeout_ms=60000,
                              max_connections_per_ip=0)
        if budget:
            cfg["ingress"]["max_body_bytes_in_flight"] = budget
        else:
            cfg["ingress"].pop("max_body_bytes_in_flight", None)
    base = st.ingress(st.config(mutate))
    pid = st.ingress_proc.pid
    before = rss_kb(pid)
    socks = []
    for i in range(100):
        s = connect(base, f"127.0.4.{1 + i}", timeout=30)
        s.sendall(head(length=2 * MIB))
        socks.append(s)
    # Past the budget the answer (503) comes before any body byte is sent.
    limit = (budget or 64 * MIB) // (2 * MIB)
    want_refused = max(0, 100 - limit)
    wait_for(lambda: sum(readable(s) for s in socks) >= want_refused, 20,
             what="clients over the budget answered")
    refused = [s for s in socks if readable(s)]
    statuses = set()
    retry = True
    for s in refused:
        data = s.recv(65536)
        statuses.add(int(data.split(b" ")[1]) if data else None)
        retry = retry and b"Retry-After:" in data
    held = [s for s in socks if s not in refused]
    chunk = b" " * (64 * 1024)
    for s in held:
        for _ in range(30):  # 1.875 MiB of the 2 MiB
            s.sendall(chunk)
    in_flight = wait_for(lambda: metric(
        base, "leadsync_ingress_body_bytes_in_flight") or None, 10,
        what="gauge")
    # RSS once the server has read what was sent (it stops growing).
    samples = [rss_kb(pid)]

    def settled():
        samples.append(rss_kb(pid))
        return len(samples) > 4 and samples[-1] - samples[-4] < 1024
    try:
        wait_for(settled, 20, interval=0.3, what="RSS settled")
    except AssertionError:
        pass  # a printed figure only: take the last sample
    after = samples[-1]
    for s in socks:
        s.close()
    st.ingress_proc.stop()
    return dict(refused=len(refused), statuses=statuses, retry=retry,
                held=len(held), in_flight=in_flight,
                rss_mb=(after - before) / 1024.0)


def budget(st, p):
    r = budget_run(st, p, None)
    c.eq(r["held"], 32, "default budget (64 MiB): 32 clients hold 2 MiB")
    c.eq(r["refused"], 68, "the other 68 are refused")
    c.eq(r["statuses"], {503}, "refused with 503")
    c.true(r["retry"], "503 carries Retry-After")
    c.true(r["in_flight"] <= 64 * MIB, "bytes in flight within the budget",
           r["in_flight"])
    u = budget_run(st, p, 1 << 30)
    c.eq(u["held"], 100, "a 1 GiB budget holds all 100 (the old behaviour)")
    print(f"budget: 100 clients holding 1.9 MiB of 2 MiB bodies: RSS "
          f"+{r['rss_mb']:.0f} MB with the 64 MiB budget (32 held, 68 "
          f"refused 503), +{u['rss_mb']:.0f} MB with 1 GiB (100 held); "
          "ASan build", flush=True)


def main():
    raise_nofile()
    p = load_payloads()
    with Stack() as st:
        st.broker()
        deadlines(st, p)
        starvation(st, p)
        budget(st, p)
    c.done()


main()
