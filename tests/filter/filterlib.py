"""Builders for the category-filter tests: Smartlead payloads for one lead."""
import json
import os

from harness import FIXTURES

_FIX = {}


def fixture(name):
    if name not in _FIX:
        with open(os.path.join(FIXTURES, "smartlead", name + ".json")) as f:
            _FIX[name] = json.load(f)
    return json.loads(json.dumps(_FIX[name]))


def ts(n):
    """A distinct, increasing event time for step n (seconds)."""
    h, rem = divmod(n, 3600)
    m, s = divmod(rem, 60)
    return f"2025-05-{1 + h // 24:02d}T{h % 24:02d}:{m:02d}:{s:02d}.000+00:00"


def event(kind, lead, step, campaign=1234567):
    """kind: SENT, OPEN, CLICK, REPLY, or a category name / (id, name)."""
    stats = f"stats-{lead}-{step}"
    if kind in ("SENT", "OPEN", "CLICK", "REPLY"):
        name = {"SENT": "EMAIL_SENT", "OPEN": "EMAIL_OPEN",
                "CLICK": "EMAIL_LINK_CLICK", "REPLY": "EMAIL_REPLY"}[kind]
        b = fixture(name)
        b.update(to_email=lead, to_name="Lead Person", stats_id=stats,
                 event_timestamp=ts(step), campaign_id=campaign)
        if kind == "REPLY":
            b["sl_lead_email"] = lead
            b["reply_message"]["message_id"] = f"<reply-{lead}-{step}@x>"
            b["leadCorrespondence"]["targetLeadEmail"] = lead
        return b
    cid, cname = kind if isinstance(kind, tuple) else (
        {"Interested": 1, "Meeting Request": 2, "Not Interested": 3,
         "Do Not Contact": 4, "Out Of Office": 6}[kind], kind)
    b = fixture("LEAD_CATEGORY_UPDATED")
    b.update(to_email=lead, lead_email=lead, to=lead, event_timestamp=ts(step),
             created_at=ts(step), category=cname, lead_category_id=cid,
             campaign_id=campaign,
             lead_category={"old_id": None, "old_name": None,
                            "new_id": cid, "new_name": cname})
    b["lead_data"]["email"] = lead
    return b
