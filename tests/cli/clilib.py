"""Helpers shared by the `leadsync` CLI tests: run the binary, parse its
JSON, and make sure no secret ever reaches its output."""
import json
import os
import subprocess

from harness import BUILD, DEMO_TOKEN, FILTERED_TOKEN, HUBSPOT_TOKEN

CLI = os.path.join(BUILD, "leadsync")
SECRETS = [DEMO_TOKEN, FILTERED_TOKEN, HUBSPOT_TOKEN]


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"rc={self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def run(args, env=None, cwd=None, timeout=60, checks=None, extra_secrets=()):
    """Runs build/leadsync with a clean environment (plus env). When checks
    is given, records that no secret appears and that the sanitizers were
    quiet."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("LEADSYNC_CONFIG", "KAFKA_BOOTSTRAP_SERVERS",
                      "HUBSPOT_TOKEN", "HUBSPOT_BASE_URL", "LEADSYNC_RUN_DIR",
                      "SMARTLEAD_API_KEY", "SMARTLEAD_BASE_URL",
                      "LEADSYNC_SOURCE_TOKEN")}
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    e.update(env or {})
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=e,
                       cwd=cwd, timeout=timeout)
    r = Result(p.returncode, p.stdout, p.stderr)
    if checks is not None:
        both = p.stdout + p.stderr
        leaked = [s for s in [*SECRETS, *extra_secrets] if s and s in both]
        checks.eq(leaked, [], f"no secret in the output of {args[:3]}")
        checks.true("Sanitizer" not in p.stderr and "runtime error" not in
                    p.stderr, f"sanitizers quiet for {args[:3]}", p.stderr[-2000:])
    return r
