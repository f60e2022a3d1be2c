"""One config corpus, both paths: `leadsync config check` and the daemons
(leadsync-ingress, leadsync-worker) reject the same configs for the same
problems, and start with the ones the check accepts.

Each tests/fixtures/config/*.json says what it expects in its "$comment":
"accepted: ..." or "rejected: PATH RULE; PATH RULE" (every listed problem
must be reported, fatal, by the check; the daemons must refuse the file at
start and name one of the check's fatal paths), or "rejected by the
ingress: PATH RULE" (an error of the ingress only: the check reports it,
the ingress refuses the file, a worker starts with it)."""
import json
import os
import re
import subprocess

from harness import (BUILD, FIXTURES, HUBSPOT_TOKEN, SOURCE, Checks, Stack,
                     wait_for)
import clilib

CORPUS = os.path.join(FIXTURES, "config")
ENV = {"HUBSPOT_TOKEN": HUBSPOT_TOKEN, "SMARTLEAD_API_KEY": "sl-test-key"}
ck = Checks("config-corpus")


def expectation(path):
    with open(path) as f:
        comment = json.load(f)["$comment"]
    verdict, _, rest = comment.partition(":")
    problems = []
    if verdict.startswith("rejected"):
        for item in rest.split(";"):
            p, rule = item.split()
            problems.append((p, rule))
    return verdict, problems


def daemon(argv, timeout=30):
    """Runs a daemon that is expected to refuse its config at start."""
    e = dict(os.environ)
    e.update(ENV)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    e["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"  # never reached
    p = subprocess.run(argv, capture_output=True, text=True, env=e,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


# One code path: the ingress, worker and fanout sections are read through
# the loader's typed structs (cfg->ingress, cfg->worker, cfg->fanout),
# which the schema and rules check, never by key from the JSON, where
# nothing would check them.
by_key = re.compile(r'json_object_get\([^;]*?"(?:ingress|worker|fanout)"\)')
readers = []
for top in ("ingress", "worker", "filter", "cli", "bench", "fanout",
            "assurance", "console", "lib"):
    for dirpath, _, names in os.walk(os.path.join(SOURCE, top)):
        for n in names:
            if not n.endswith(".c") or n == "ls_config_rules.c":
                continue
            with open(os.path.join(dirpath, n)) as f:
                if by_key.search(f.read()):
                    readers.append(os.path.relpath(os.path.join(dirpath, n),
                                                   SOURCE))
ck.eq(readers, [], "no code reads an ingress, worker or fanout setting by key")

files = sorted(f for f in os.listdir(CORPUS) if f.endswith(".json"))
ck.true(len(files) >= 10, "the corpus has configs to check", files)
accepted, ingress_only = [], []
for name in files:
    path = os.path.join(CORPUS, name)
    verdict, want = expectation(path)
    r = clilib.run(["config", "check", path, "--json"], env=ENV, checks=ck)
    got = r.json()["problems"]
    fatal = {(p["path"], p["rule"]) for p in got if p.get("fatal")}
    if verdict == "accepted":
        ck.eq(r.rc, 0, f"{name}: config check accepts it")
        ck.eq([p for p in got if p["severity"] == "error"], [],
              f"{name}: no error")
        accepted.append(path)
        continue
    ck.eq(r.rc, 1, f"{name}: config check rejects it")
    if verdict == "rejected by the ingress":
        errors = {(p["path"], p["rule"]) for p in got
                  if p["severity"] == "error" and not p.get("fatal")}
        ck.eq(sorted(set(want) - errors), [],
              f"{name}: reported as an error of one process, not fatal")
        rc, out = daemon([os.path.join(BUILD, "leadsync-ingress"), "--config",
                          path, "--listen", "127.0.0.1:0"])
        ck.eq(rc, 2, f"{name}: the ingress refuses it at start")
        ck.true(all(rule in out for _, rule in want),
                f"{name}: the ingress names the rule", out[-800:])
        ingress_only.append(path)
        continue
    ck.eq(sorted(set(want) - fatal), [],
          f"{name}: every expected problem is reported, fatal, with its "
          "path and rule")
    for p in got:
        ck.true(p["path"].startswith("$") and p["rule"] and p["message"],
                f"{name}: each problem has a path, a rule and a message", p)
    # The daemons load through the same call: they refuse the same file and
    # name one of the same problems (the first, and how many more).
    n_fatal = len([p for p in got if p.get("fatal")])
    for argv, want_rc in (
            ([os.path.join(BUILD, "leadsync-ingress"), "--config", path,
              "--listen", "127.0.0.1:0"], 2),
            ([os.path.join(BUILD, "leadsync-worker"), "--config", path,
              "--group", "corpus", "--events", "EMAIL_REPLY", "--no-setup",
              "--listen", "127.0.0.1:0"], 1)):
        rc, out = daemon(argv)
        who = os.path.basename(argv[0])
        ck.eq(rc, want_rc, f"{name}: {who} refuses it at start")
        ck.true("invalid configuration" in out, f"{name}: {who} says why",
                out[-800:])
        ck.true(any(f"{p}: " in out for p, _ in fatal),
                f"{name}: {who} names a problem the check reported",
                out[-800:])
        more = re.search(r"and (\d+) more problems", out)
        ck.eq(1 + (int(more.group(1)) if more else 0), n_fatal,
              f"{name}: {who} counts the same problems")
        ck.true("Sanitizer" not in out, f"{name}: {who} sanitizers quiet",
                out[-800:])

# The accepted ones: both daemons start with them and get ready.
ck.true(accepted, "the corpus has accepted configs", files)
with Stack() as st:
    st.broker()
    st.emulator()
    for path in accepted:
        name = os.path.basename(path)
        url = st.ingress(path)
        ck.true(url.startswith("http://127.0.0.1:"), f"{name}: ingress ready",
                url)
        with open(path) as f:
            groups = json.load(f).get("worker", {}).get("groups", {})
        # A declared group's worker needs no --events: it syncs the group's
        # types from worker.groups.
        group = next(iter(groups), None)
        if group:
            rf = st.path(f"worker-{group}.ready")
            proc = st.spawn(f"worker-{group}",
                            [os.path.join(BUILD, "leadsync-worker"),
                             "--config", path, "--group", group,
                             "--no-setup", "--listen", "127.0.0.1:0",
                             "--ready-file", rf], ready_file=rf)
            types = groups[group]
            types = types if isinstance(types, list) else types.split(",")

            def ready_lines():
                # Logged just after the ready file is written.
                with open(proc.log) as f:
                    return [json.loads(x) for x in f.read().splitlines()
                            if '"worker ready"' in x] or None
            ready = wait_for(ready_lines, 30, what="worker ready logged")
            ck.eq([r.get("events") for r in ready], [",".join(types)],
                  f"{name}: worker of group {group} syncs the group's types")
        else:
            st.worker(path, "corpus", "EMAIL_REPLY", ["--no-setup"])
    # What only the ingress refuses, a worker runs with.
    for path in ingress_only:
        proc = st.worker(path, "corpus", "EMAIL_REPLY", ["--no-setup"])
        ck.true(proc.url.startswith("http://"),
                f"{os.path.basename(path)}: a worker starts with it", proc.url)
    ck.eq(st.close(), [], "daemons stopped cleanly")
ck.done()
