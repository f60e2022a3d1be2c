"""Workers of one group joining and leaving under load (docs/worker.md,
"Rebalances during a flush" and "State"), with the eager and the
cooperative protocol: a worker joins while the others flush against a
small portal (the flush waits in the rate limiter and polls the consumer
from its idle hook, so rebalances land inside flushes), one is killed
(SIGKILL) in the middle of a flush, one joins with its state restore held
back and the group rebalances again while it restores, one is stopped
(SIGTERM) while it restores. No worker may die of anything but the
SIGKILL it was sent (a crash, an ASan or UBSan report); stopped workers
exit 0; every event gets a final outcome; each engagement exists once;
`leadsync audit` finds nothing acknowledged and unfinished."""
import collections
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack  # noqa: E402

c = Checks("worker_churn")
PARTITIONS = 4
PER_10S = 60
N_EVENTS = 240  # per phase, half of them create an engagement


def restoring(proc):
    try:
        return wutil.metric(proc.url,
                            "leadsync_worker_state_restoring_partitions")
    except OSError:
        return 0


def waits(proc):
    """Rate-limit waits so far: they only happen inside a flush."""
    try:
        return wutil.metric(proc.url, "leadsync_hubspot_ratelimit_waits_total")
    except OSError:
        return 0


def flushing(proc):
    return waits(proc) > 0


class Phase:
    def __init__(self, st, group, events, engagement, cooperative, base):
        self.st, self.group, self.events = st, group, events
        self.engagement, self.base = engagement, base
        self.ids = []
        self.procs = []
        self.killed = set()

        def mutate(cfg):
            for t in cfg["tenants"]:
                t["hubspot"]["requests_per_10s"] = PER_10S
            if cooperative:
                cfg["kafka"].setdefault("properties", {})[
                    "partition.assignment.strategy"] = "cooperative-sticky"
        self.cfg = wutil.fast_config(st, mutate, batch_max=10, flush_max=40,
                                     portal_share=1, search_settle_ms=1200)

    def produce(self, n):
        pl = wutil.payloads()
        p = wutil.Producer(self.st.bootstrap)
        k0 = len(self.ids)
        for k in range(k0, k0 + n):
            email = f"churn{self.base + k // 2}@example-churn.com"
            body = wutil.variant(pl[self.events[k % 2]], self.base + k, email)
            self.ids.append(p.send(body))
        p.flush()

    def worker(self, faults=""):
        w = self.st.worker(self.cfg, self.group, ",".join(self.events),
                           env={"LEADSYNC_TEST_FAULTS": faults})
        self.procs.append(w)
        return w

    def live(self):
        return [p for p in self.procs if p.alive()]

    def settled(self):
        """Every live worker owns partitions and together they own all."""
        ws = self.live()
        n = [wutil.owned(p) for p in ws]
        return all(n) and sum(n) == 2 * PARTITIONS and not any(
            restoring(p) for p in ws)

    def check_alive(self):
        """No worker ended by itself (a crash, a sanitizer report)."""
        for p in self.procs:
            if p.pid not in self.killed and not p.alive():
                return p
        return None

    def wait(self, cond, what, timeout=60):
        def ok():
            dead = self.check_alive()
            if dead:
                raise AssertionError(f"{dead.name} exited with "
                                     f"{dead.p.returncode}:\n{dead.tail()}")
            return cond()
        return wutil.wait_for(ok, timeout=timeout, interval=0.1, what=what)

    def stop(self, w):
        self.killed.add(w.pid)
        rc = w.stop()
        c.eq(rc, 0, f"{self.group}: {w.name} (pid {w.pid}) stops cleanly")

    def kill(self, w):
        self.killed.add(w.pid)
        w.p.send_signal(signal.SIGKILL)
        w.p.wait()

    def outcomes(self):
        want = set(self.ids)
        out = collections.defaultdict(list)
        for r in wutil.sync_log(self.st, timeout=3):
            if r["event_id"] in want:
                out[r["event_id"]].append(r["outcome"])
        return out

    def run(self):
        g = self.group
        self.produce(N_EVENTS // 2)
        a = self.worker()
        b = self.worker()
        self.wait(lambda: flushing(a) or flushing(b),
                  f"{g}: a flush waiting for the portal")
        # Joins while the others flush.
        self.worker()
        self.produce(N_EVENTS // 4)
        self.wait(lambda: wutil.owned(self.procs[-1]) > 0,
                  f"{g}: the third worker assigned")
        # SIGKILL in the middle of a flush: one whose waits for the portal
        # go on.
        # If the backlog drains before any worker waits again (flushes read
        # ahead, the third worker's share), a further burst - more calls
        # than a replica's paced share of the window - makes one wait.
        seen = {p.pid: waits(p) for p in self.live()}
        fed = [time.monotonic()]

        def mid_flush():
            w = next((p for p in self.live() if waits(p) > seen[p.pid]), None)
            if w is None and time.monotonic() - fed[0] > 5:
                self.produce(N_EVENTS // 2)
                fed[0] = time.monotonic()
            return w
        victim = self.wait(mid_flush, f"{g}: a worker in the middle of a flush")
        self.kill(victim)
        # A replica whose restore is held back, and a rebalance while it
        # restores (another one joins); then it is stopped mid-restore.
        slow = self.worker("restore_stall:30")
        self.wait(lambda: restoring(slow) > 0, f"{g}: the restore under way")
        self.worker()
        self.produce(N_EVENTS // 4)
        self.wait(lambda: wutil.log_lines(slow, "partitions revoked") or
                  not restoring(slow), f"{g}: a rebalance during the restore")
        self.stop(slow)
        self.wait(self.settled, f"{g}: the group settled", timeout=90)
        # An event synced by a worker killed before its sync_log record
        # was acknowledged (its ledger record was) is a duplicate for the
        # next owner: synced or duplicate, both final.
        got = self.wait(
            lambda: (lambda d: d if len(d) == len(set(self.ids)) and all(
                {"synced", "duplicate"} & set(v) for v in d.values()) else
                None)(self.outcomes()),
            f"{g}: every event final", timeout=150)
        c.eq(set().union(*map(set, got.values())) - {"synced", "duplicate"},
             set(), f"{g}: no other outcome than synced (and duplicate)")
        state = self.st.hubspot_state()
        per_event = collections.Counter(
            wutil.props(o).get("leadsync_event_id")
            for o in wutil.objects(state, self.engagement))
        creating = [i for k, i in enumerate(self.ids) if k % 2 == 0]
        c.eq([i for i in creating if per_event.get(i) != 1], [],
             f"{g}: exactly one engagement per event that creates one")
        c.eq(self.check_alive(), None, f"{g}: no worker died by itself")
        for w in self.live():
            self.stop(w)
        revoked = sum(len(wutil.log_lines(p, "partitions revoked"))
                      for p in self.procs)
        c.true(revoked >= 3, f"{g}: the group rebalanced repeatedly",
               revoked)
        wutil.check_audit(c, self.cfg)


with Stack() as st:
    st.broker(partitions=PARTITIONS)
    st.emulator()
    st.hubspot_faults({"latency_ms": 30})
    Phase(st, "churn-eager", ["EMAIL_SENT", "EMAIL_OPEN"], "emails", False,
          930000).run()
    Phase(st, "churn-coop", ["MANUAL_STEP_REACHED", "EMAIL_LINK_CLICK"],
          "tasks", True, 940000).run()
c.done()
