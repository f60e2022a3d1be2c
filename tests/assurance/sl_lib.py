"""Helpers for the Smartlead emulator (build/smartlead-emulator) in tests."""
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402

API_KEY = "sl-dev-api-key"


class Smartlead:
    """A running smartlead-emulator: .api (the /api/v1 base), .base (root)."""

    def __init__(self, stack, extra_args=(), name="smartlead-emulator"):
        rf = stack.path(f"{name}.ready")
        self.proc = stack.spawn(name, [
            os.path.join(harness.BUILD, "smartlead-emulator"),
            "--listen", "127.0.0.1:0", "--ready-file", rf, "--quiet",
            *extra_args], ready_file=rf)
        self.api = self.proc.ready_value
        self.base = self.api[:-len("/api/v1")]

    def call(self, method, path, body=None, key=API_KEY, query=None,
             timeout=60):
        """API call; path under /api/v1. Returns (status, headers, json)."""
        q = dict(query or {})
        if key is not None:
            q["api_key"] = key
        full = "/api/v1" + path + ("?" + urllib.parse.urlencode(q) if q else "")
        st, hd, data = harness.http_request(self.base, method, full, body,
                                            timeout=timeout)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        return st, hd, doc

    def admin(self, method, what, body=None, timeout=120):
        st, _, data = harness.http_request(self.base, method,
                                           "/_emulator/" + what, body,
                                           timeout=timeout)
        if st != 200:
            raise harness.Failure(f"/_emulator/{what}: {st} {data[:300]!r}")
        return json.loads(data)

    def state(self):
        return self.admin("GET", "state")

    def register(self, campaign_id, url, event_types=None):
        st, _, doc = self.call("POST", f"/campaigns/{campaign_id}/webhooks", {
            "id": None, "name": "leadsync", "webhook_url": url,
            "event_types": event_types or [
                "EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK", "EMAIL_REPLY",
                "EMAIL_BOUNCE", "LEAD_UNSUBSCRIBED", "LEAD_CATEGORY_UPDATED"],
            "categories": ["Interested", "Meeting Request", "Not Interested",
                           "Do Not Contact", "Information Request",
                           "Out Of Office", "Wrong Person"]})
        if st != 200:
            raise harness.Failure(f"register webhook: {st} {doc}")
        return doc
