"""Shared set-up for the assurance tests: a full stack (dev broker, HubSpot
emulator, Smartlead emulator, ingress, one worker for every event type), the
Smartlead account generated and its webhooks delivered with faults, and the
checks (expected event ids by the documented occurrence rule, engagements
in HubSpot)."""
import collections
import datetime
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402
from sl_lib import API_KEY, Smartlead  # noqa: E402

TENANT = "demo"
TYPES = ["EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK", "EMAIL_REPLY",
         "EMAIL_BOUNCE", "LEAD_UNSUBSCRIBED", "LEAD_CATEGORY_UPDATED"]


def occurrence_id(tenant, b):
    """docs/assurance.md "Event ids", re-implemented independently."""
    t = b["event_type"]
    email = (b.get("lead_email") if t == "LEAD_CATEGORY_UPDATED"
             else b.get("to_email")).strip().lower()
    lead = [str(b["campaign_id"]), email]
    if t in ("EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_BOUNCE"):
        parts = [b["stats_id"]]
    elif t in ("EMAIL_OPEN", "EMAIL_LINK_CLICK"):
        ts = datetime.datetime.fromisoformat(
            b["event_timestamp"].replace("Z", "+00:00"))
        parts = [b["stats_id"], str(int(ts.timestamp() // 1))]
    elif t == "EMAIL_REPLY":
        parts = [b["stats_id"], b["reply_message"]["message_id"]]
    elif t == "LEAD_UNSUBSCRIBED":
        parts = []
    elif t == "LEAD_CATEGORY_UPDATED":
        lc = b["lead_category"]
        old = lc.get("old_id")
        parts = ["" if old is None else str(old), str(lc["new_id"])]
    else:
        raise ValueError(t)
    s = "\x1f".join(["occ1", tenant, t] + lead + parts) + "\x1f"
    return hashlib.sha256(s.encode()).hexdigest()[:32]


def tenant_settings(cfg, budget=200, window_ms=1000):
    for t in cfg["tenants"]:
        if t["id"] == TENANT:
            t["smartlead"] = {
                "api_key_env": "SMARTLEAD_API_KEY",
                "base_url_env": "SMARTLEAD_BASE_URL",
                "base_url": "https://server.smartlead.ai/api/v1",
                "requests_per_window": budget, "window_ms": window_ms,
                "assurance": {"schedule": "15m", "lookback": "1d"}}
            t["sync"] = {"opens_as_notes": True, "clicks_as_notes": True}


class Setup:
    def __init__(self, st, events, leads, seed, faults, sl_args=(),
                 budget=200, window_ms=1000, hold_duplicates=False):
        self.st = st
        st.broker()
        st.emulator()
        self.sl = Smartlead(st, extra_args=sl_args)
        st.env["SMARTLEAD_API_KEY"] = API_KEY
        st.env["SMARTLEAD_BASE_URL"] = self.sl.api
        self.cfg = st.config(lambda c: tenant_settings(c, budget, window_ms))
        url = st.ingress(self.cfg)
        st.worker(self.cfg, "all", ",".join(TYPES))
        self.watch = harness.SyncLogWatcher(st.bootstrap)
        gen = self.sl.admin("POST", "generate", {
            "seed": seed, "campaigns": 2, "leads": leads, "events": events})
        assert gen["events"] == events, gen
        hook = f"{url}/v1/webhooks/smartlead/{harness.DEMO_TOKEN}"
        for cid in (3000001, 3000002):
            self.sl.register(cid, hook)
        faults = dict(faults, shadow_url=self.sl.base + "/_emulator/sink")
        self.sl.admin("POST", "faults", faults)
        self.delivery = self.sl.admin("POST", "deliver",
                                      {"hold_duplicates": hold_duplicates})
        self.state = self.sl.state()
        self.expected = {}
        for e in self.state["events"]:
            self.expected[occurrence_id(TENANT, e["body"])] = e

    def fates(self):
        return collections.Counter(e["fate"] for e in self.state["events"])

    def delivered_ids(self):
        return {i for i, e in self.expected.items() if e["fate"] == "delivered"}

    def engagement_ids(self):
        hs = self.st.hubspot_state()
        n = collections.Counter()
        for kind in ("emails", "notes", "tasks"):
            for o in hs.get(kind) or []:
                n[o.get("properties", o).get("leadsync_event_id")] += 1
        return n

    def wait_engagements(self, want, timeout=240, what="engagements"):
        def ok():
            n = self.engagement_ids()
            return n if set(want) <= set(n) else None
        return harness.wait_for(ok, timeout=timeout, interval=0.5, what=what)

    def assure(self, since="1d", timeout=300, extra=(), cfg=None):
        r = subprocess.run(
            [os.path.join(harness.BUILD, "leadsync"), "assure", "--tenant",
             TENANT, "--since", since, "--config", cfg or self.cfg, *extra],
            env=dict(self.st.env), capture_output=True, text=True,
            timeout=timeout, cwd=harness.SOURCE)
        try:
            doc = json.loads(r.stdout)[0]
        except (ValueError, IndexError):
            doc = {}
        return r, doc

    def check_exactly_once(self, ck, label):
        n = self.engagement_ids()
        want = set(self.expected)
        missing = sorted(i for i in want if n[i] == 0)
        dups = sum(n[i] - 1 for i in want if n[i] > 1)
        extra = sorted(i for i in n if i not in want)
        print(f"{label}: expected={len(want)} engagements="
              f"{sum(n.values())} missing={len(missing)} duplicates={dups} "
              f"unexpected={len(extra)}", flush=True)
        ck.eq(len(missing), 0, f"{label}: events missing in HubSpot")
        ck.eq(dups, 0, f"{label}: duplicated engagements")
        ck.eq(len(extra), 0, f"{label}: engagements of no Smartlead event")
        return n
