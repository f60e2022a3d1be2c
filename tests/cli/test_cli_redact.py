"""`leadsync webhooks check` never prints credentials of a webhook URL
(issue 12, build item 8): userinfo, query, fragment and the token path
segment are redacted through libcurl's URL API, in text and --json output;
host and port stay visible."""
import os

from harness import Checks, DEMO_TOKEN, FIXTURES, SOURCE
import clilib

ck = Checks("cli-redact")
DEV = os.path.join(SOURCE, "config", "dev.json")
FILE = os.path.join(FIXTURES, "webhooks", "credentials_in_urls.json")
SECRETS = ("zap-user", "pa55-w0rd-7f3a", "sekret-path-91c2", "qs-secret-4d1e",
           "frag-secret", "lsuser", "ls-pass-0b1c", "qs-secret-2", DEMO_TOKEN)
ENV = {"HUBSPOT_TOKEN": "pat-na1-dev-token"}

for extra in ((), ("--json",)):
    r = clilib.run(["webhooks", "check", FILE, "--config", DEV, *extra],
                   env=ENV, checks=ck, extra_secrets=SECRETS)
    both = r.out + r.err
    ck.true(r.rc in (0, 1), f"webhooks check {extra} ran", (r.rc, r.err))
    ck.true("hooks.example.com" in both, f"{extra}: the host is shown")
    ck.true("https://****@hooks.example.com/...[" in both,
            f"{extra}: userinfo and path of another receiver redacted",
            both[:2000])
    ck.true("http://****@127.0.0.1:8080/v1/webhooks/smartlead/****?****"
            in both, f"{extra}: leadsync URL: userinfo, token, query "
            "redacted, port kept", both[:2000])
ck.done()
