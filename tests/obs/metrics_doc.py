"""docs/metrics.md's table of every metric family, generated from the real
/metrics output of each leadsync daemon, and the check that keeps the two
equal.

    python3 tests/obs/metrics_doc.py --write   # regenerate the table
    python3 tests/obs/metrics_doc.py           # check (ctest obs_metrics_doc)

It starts the dev broker, the HubSpot emulator and every daemon on loopback
(port 0), sends one webhook of every sample payload through the ingress,
waits until the worker consumed them, then scrapes each /metrics. The
check fails when:
  - a family on some /metrics is missing from the table, or a row names a
    family no daemon exports;
  - type, help text or the daemons exporting it differ from the table;
  - a label seen on /metrics is not in the row's labels;
  - a metric name written in the C sources (a "leadsync_..." literal in a
    file that uses ls_metrics) is not in the table: families must be
    declared at start (ls_metrics_declare) so /metrics shows them;
  - a name is in the table twice.
Labels of families that had no series during the scenario are kept from
the previous table (write them by hand once; the check keeps them honest
as soon as a series shows up).
"""
import glob
import os
import re
import sys

import harness
from harness import (BUILD, DEMO_TOKEN, FILTERED_TOKEN, SOURCE, Checks, Stack,
                     http_request, load_payloads, wait_for)

DOC = os.path.join(SOURCE, "docs", "metrics.md")
BEGIN = "<!-- BEGIN GENERATED metrics table: tests/obs/metrics_doc.py --write -->"
END = "<!-- END GENERATED metrics table -->"
# Strings that look like metric names in C sources but are not.
NOT_METRICS = {"leadsync_event_id", "leadsync_shadowed", "leadsync_source",
               "leadsync_test", "leadsync_tie"}


def start_ingress(st, cfg):
    return st.ingress(cfg)


def start_worker(st, cfg):
    return st.worker(cfg, "all", harness.ALL_EVENTS).url


def start_filter(st, cfg):
    return st.filter(cfg).url


def start_daemon(st, binary, name, args=()):
    """A daemon with the common flags: --config --listen --ready-file."""
    st._n += 1
    rf = st.path(f"{name}.{st._n}.ready")
    proc = st.spawn(name, [os.path.join(BUILD, binary), *args,
                           "--listen", "127.0.0.1:0", "--ready-file", rf],
                    ready_file=rf)
    return proc.ready_value


def start_fanout(st, cfg):
    return start_daemon(st, "leadsync-fanout", "fanout", ["--config", cfg])


def start_assurance(st, cfg):
    return start_daemon(st, "leadsync-assurance", "assurance",
                        ["--config", cfg])


def start_console(st, cfg):
    return start_daemon(st, "leadsync-console", "console",
                        ["--config", cfg, "--db", st.path("console.db")])


def start_assurance(st, cfg):
    return start_daemon(st, "leadsync-assurance", "assurance",
                        ["--config", cfg])


# (daemon name in the table, how to start it). A new daemon adds a line.
DAEMONS = [
    ("ingress", start_ingress),
    ("worker", start_worker),
    ("filter", start_filter),
    ("fanout", start_fanout),
    ("console", start_console),
    ("assurance", start_assurance),
]


def scenario_config(cfg, hubspot_url):
    """The dev config plus what makes every daemon export its per-tenant
    series: a fan-out endpoint (the emulator answers it 404)."""
    demo = next(t for t in cfg["tenants"] if t["id"] == "demo")
    demo["endpoints"] = [{"id": "obs-sink", "internal": True,
                          "url": hubspot_url + "/obs-sink",
                          "max_attempts": 1}]
    # Assurance polls "Smartlead" (the HubSpot emulator, which refuses it).
    demo["smartlead"] = {"api_key_env": "OBS_SMARTLEAD_KEY",
                         "base_url": hubspot_url + "/smartlead",
                         "assurance": {"schedule": "15m", "lookback": "1d"}}


def parse(text):
    """{family: {"type", "help", "labels": set}} from Prometheus text."""
    fams = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            fams.setdefault(name, {"labels": set()})["help"] = help_
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            fams.setdefault(name, {"labels": set()})["type"] = typ
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
            if not m:
                continue
            name = m.group(1)
            base = name
            if name not in fams:
                for suf in ("_bucket", "_sum", "_count"):
                    if name.endswith(suf) and name[:-len(suf)] in fams:
                        base = name[:-len(suf)]
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="',
                                    m.group(3) or ""))
            labels.discard("le")
            fams.setdefault(base, {"labels": set()})["labels"] |= labels
    return fams


def scrape():
    """{daemon: parsed /metrics} after the scenario."""
    out = {}
    with Stack() as st:
        st.broker()
        st.emulator()
        st.env["OBS_SMARTLEAD_KEY"] = "obs-not-a-key"
        cfg = st.config(lambda c: scenario_config(c, st.hubspot_url))
        urls = {}
        for name, start in DAEMONS:
            urls[name] = start(st, cfg)
        ing = urls["ingress"]
        for i, (_, body) in enumerate(sorted(load_payloads().items())):
            tok = FILTERED_TOKEN if i % 4 == 0 else DEMO_TOKEN
            http_request(ing, "POST", "/v1/webhooks/smartlead/" + tok, body,
                         {"Content-Type": "application/json"})

        def consumed():
            _, _, b = http_request(urls["worker"], "GET", "/metrics")
            return "leadsync_worker_consumed_total{" in b.decode()
        wait_for(consumed, 60, what="the worker consumed the sample events")
        for name, url in urls.items():
            s, _, body = http_request(url, "GET", "/metrics")
            assert s == 200, (name, s)
            out[name] = parse(body.decode())
    return out


def merge(scraped):
    """{family: {"type","help","labels","daemons"}} over all daemons."""
    rows = {}
    for daemon, fams in scraped.items():
        for name, f in fams.items():
            r = rows.setdefault(name, {"type": f.get("type", "untyped"),
                                       "help": f.get("help", ""),
                                       "labels": set(), "daemons": set()})
            r["labels"] |= f["labels"]
            r["daemons"].add(daemon)
    return rows


ROW = re.compile(r"^\| `([a-z_:][a-z0-9_:]*)` \| (\w+) \| ([^|]*) \| ([^|]*) \| (.*) \|$")


def read_table(text):
    rows, dup = {}, []
    if BEGIN not in text:
        return rows, dup
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    for line in body.splitlines():
        m = ROW.match(line.strip())
        if not m:
            continue
        name = m.group(1)
        if name in rows:
            dup.append(name)
        labels = {x.strip(" `") for x in m.group(3).split(",")
                  if x.strip(" `—-")}
        daemons = {x.strip() for x in m.group(4).split(",") if x.strip()}
        rows[name] = {"type": m.group(2), "labels": labels,
                      "daemons": daemons,
                      "help": m.group(5).replace("\\|", "|")}
    return rows, dup


def render(rows):
    lines = [BEGIN, "",
             "| Metric | Type | Labels | Exported by | Help |",
             "|---|---|---|---|---|"]
    for name in sorted(rows):
        r = rows[name]
        labels = ", ".join(f"`{x}`" for x in sorted(r["labels"])) or "—"
        lines.append(f"| `{name}` | {r['type']} | {labels} | "
                     f"{', '.join(sorted(r['daemons']))} | "
                     f"{r['help'].replace('|', chr(92) + '|')} |")
    lines += ["", END]
    return "\n".join(lines)


def source_names():
    names = set()
    for ext in ("c", "h"):
        for p in glob.glob(os.path.join(SOURCE, "**", f"*.{ext}"),
                           recursive=True):
            rel = os.path.relpath(p, SOURCE)
            if rel.startswith(("tests", "build", ".")) or "/build" in rel:
                continue
            text = open(p, errors="replace").read()
            if "ls_metrics" not in text:
                continue
            names |= set(re.findall(r'"((?:leadsync|process)_[a-z0-9_]+)"',
                                    text))
    return names - NOT_METRICS


def main():
    write = "--write" in sys.argv
    scraped = scrape()
    now = merge(scraped)
    text = open(DOC).read()
    old, dup = read_table(text)
    if write:
        for name, r in now.items():
            if name in old:
                r["labels"] |= old[name]["labels"]
        table = render(now)
        if BEGIN in text:
            pre = text.split(BEGIN, 1)[0]
            post = text.split(END, 1)[1]
            text = pre + table + post
        else:
            text = text.rstrip("\n") + "\n\n## All metrics\n\n" + table + "\n"
        open(DOC, "w").write(text)
        print(f"wrote {len(now)} families to {DOC}")
        return
    c = Checks("obs_metrics_doc")
    c.eq(dup, [], "names documented twice")
    c.true(len(old) > 0, "docs/metrics.md has the generated table")
    for name in sorted(now):
        r = now[name]
        if not c.true(name in old, f"{name} (exported by "
                      f"{', '.join(sorted(r['daemons']))}) is in "
                      "docs/metrics.md; run tests/obs/metrics_doc.py --write"):
            continue
        d = old[name]
        c.eq(d["type"], r["type"], f"{name}: type")
        c.eq(d["help"], r["help"], f"{name}: help")
        c.eq(sorted(d["daemons"]), sorted(r["daemons"]), f"{name}: daemons")
        c.true(r["labels"] <= d["labels"], f"{name}: labels on /metrics are "
               "documented", f"{sorted(r['labels'] - d['labels'])}")
    for name in sorted(set(old) - set(now)):
        c.true(False, f"{name} is documented but no daemon exports it")
    for name in sorted(source_names() - set(now)):
        c.true(False, f"{name} is named in the C sources but no /metrics "
               "shows it (declare it at start with ls_metrics_declare)")
    c.done()


if __name__ == "__main__":
    main()
