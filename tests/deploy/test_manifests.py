#!/usr/bin/env python3
"""deploy_manifests: everything under deploy/ is checked here, since no
cluster and no Docker engine run in CI.

1. Render: every kustomization (base, overlays/dev, overlays/prod, the prod
   overlay plus the requests/s component, kafka) with `kubectl kustomize`;
   without kubectl, with tests/deploy/mini_kustomize.py. With kubectl, both
   render and must agree (up to kustomize's name hashes and ordering).
2. Schemas: every rendered object, and the Secret template, against the
   Kubernetes/CRD JSON Schemas in tests/deploy/k8s-schemas (Draft 7;
   copied byte for byte, provenance and licences in its README.md).
3. Policy: containers (requests, limits, probes, non-root, read-only root,
   no capabilities), worker groups vs. consumer groups vs. KEDA (the filter
   group included: --role filter, leadsync-filter, leadsync.held, never
   scaled to zero, no Secret, no HubSpot egress), KEDA maxReplicaCount vs.
   partitions, co-partitioning, ingress drain vs. grace period,
   HPA/PDB/Service/Ingress/ServiceMonitor/NetworkPolicy wiring, and every
   flag passed to a binary known to its --help (the build's binaries).
4. Config: the ConfigMap's config.json against schemas/config.schema.json and
   `leadsync config check` (a failure under ctest when the CLI is not
   built), its shape against config/dev.json, no secrets.
5. Dockerfile: static checks (hadolint is not installable here).
6. yamllint with deploy/.yamllint.
Prints "N passed, M failed" and exits non-zero on any failure.
"""
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)

import yaml  # noqa: E402

from harness import Checks  # noqa: E402
import mini_kustomize  # noqa: E402

SOURCE = os.environ.get("LS_SOURCE_DIR") or os.path.abspath(
    os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("LS_BUILD_DIR") or os.path.join(SOURCE, "build")
DEPLOY = os.path.join(SOURCE, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
SCHEMAS = os.path.join(HERE, "k8s-schemas")
# LS_KUBECTL=none renders with mini_kustomize only (what a clone without
# kubectl does); any other value names the kubectl to use.
KUBECTL = os.environ.get("LS_KUBECTL", "kubectl")

TARGETS = {
    "base": os.path.join(K8S, "base"),
    "dev": os.path.join(K8S, "overlays", "dev"),
    "prod": os.path.join(K8S, "overlays", "prod"),
    "prod+rps": os.path.join(HERE, "prod-rps"),
    "kafka": os.path.join(K8S, "kafka"),
}
APPLIED = ["dev", "prod", "prod+rps"]   # what an operator applies

# docs/worker.md: group -> Smartlead event types.
GROUPS = {
    "replies": ["EMAIL_REPLY", "UNTRACKED_REPLIES"],
    "activity": ["EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN",
                 "EMAIL_LINK_CLICK", "EMAIL_BOUNCE"],
    "leadstatus": ["LEAD_CATEGORY_UPDATED", "LEAD_UNSUBSCRIBED",
                   "CAMPAIGN_STATUS_CHANGED"],
    "tasks": ["MANUAL_STEP_REACHED"],
}
# docs/filter.md: the category filter runs as one more worker group, with
# --role filter and no --events; its group defaults to "filter" (consumer
# group leadsync-filter) and it reads leadsync.held only, never HubSpot.
FILTER_GROUP = "filter"
FILTER_TOPIC = "leadsync.held"
ALL_EVENTS = ["EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN",
              "EMAIL_LINK_CLICK", "EMAIL_REPLY", "EMAIL_BOUNCE",
              "LEAD_UNSUBSCRIBED", "LEAD_CATEGORY_UPDATED",
              "CAMPAIGN_STATUS_CHANGED", "UNTRACKED_REPLIES",
              "MANUAL_STEP_REACHED"]
# docs/kafka-contract.md.
EVENT_TOPICS = ["smartlead." + e.lower() for e in ALL_EVENTS]
CO_PARTITIONED = EVENT_TOPICS + ["smartlead.unknown", "smartlead.quarantine",
                                 "leadsync.held", "leadsync.lead_state",
                                 # docs/filter.md "Checkpoints": snapshots
                                 # of held partition p go to partition p.
                                 "leadsync.filter_state"]
ALL_TOPICS = CO_PARTITIONED + ["leadsync.dlq", "leadsync.sync_log",
                               "leadsync.ledger", "leadsync.fanout_dlq",
                               "leadsync.fanout_replay",
                               # docs/assurance.md: progress and election.
                               "leadsync.assurance",
                               # docs/console.md: sources and the audit trail.
                               "leadsync.sources", "leadsync.audit"]
# docs/fanout.md: leadsync-fanout, one consumer group per endpoint.
FANOUT_DEPLOYMENT = "leadsync-fanout"
FANOUT_SECRET_DIR = "/var/run/secrets/leadsync/fanout"
COMPACTED = {"leadsync.lead_state", "leadsync.ledger", "leadsync.assurance",
             "leadsync.sources", "leadsync.filter_state"}
# Compacted and deleted after a window (the worker's ledger changelog).
COMPACTED_DELETE = {"leadsync.ledger"}
# docs/console.md: leadsync-console, its Service and example Ingress.
CONSOLE_DEPLOYMENT = "leadsync-console"
CONSOLE_PORT = 8088
CONFIG_PATH = "/etc/leadsync/config.json"
TOKEN_DIR = "/var/run/secrets/leadsync/hubspot"

ck = Checks("deploy_manifests")


# --------------------------------------------------------------- helpers
def first_lines(text, n=12):
    return "\n".join(text.strip().splitlines()[:n])


def docs_of(text):
    return [d for d in yaml.safe_load_all(text) if d]


def of_kind(objs, kind):
    return [o for o in objs if o.get("kind") == kind]


def named(objs, kind, name):
    hits = [o for o in of_kind(objs, kind) if o["metadata"]["name"] == name]
    return hits[0] if hits else None


def gen_named(objs, kind, base):
    """A generated ConfigMap/Secret, with or without kustomize's hash."""
    for o in of_kind(objs, kind):
        n = o["metadata"]["name"]
        if n == base or re.fullmatch(re.escape(base) + r"-[a-z0-9]{10}", n):
            return o
    return None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v
                                  for k, v in selector.items())


def label_selector_matches(sel, labels):
    """A metav1.LabelSelector (matchLabels and matchExpressions); an empty
    selector is reported as not matching (callers want a specific one)."""
    ml, me = sel.get("matchLabels") or {}, sel.get("matchExpressions") or []
    if not ml and not me:
        return False
    if not all(labels.get(k) == v for k, v in ml.items()):
        return False
    for e in me:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        ok = {"In": k in labels and labels[k] in vals,
              "NotIn": k not in labels or labels[k] not in vals,
              "Exists": k in labels,
              "DoesNotExist": k not in labels}.get(op)
        if not ok:
            return False
    return True


def pod_labels(dep):
    return dep["spec"]["template"]["metadata"].get("labels", {})


def containers(dep):
    ps = dep["spec"]["template"]["spec"]
    return ps.get("containers", []) + ps.get("initContainers", [])


def cpu_m(q):
    q = str(q)
    return float(q[:-1]) if q.endswith("m") else float(q) * 1000


def mem_b(q):
    q = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "k": 1e3, "M": 1e6, "G": 1e9}
    for u, m in units.items():
        if q.endswith(u):
            return float(q[:-len(u)]) * m
    return float(q)


def arg_after(args, flag):
    return args[args.index(flag) + 1] if flag in args and \
        args.index(flag) + 1 < len(args) else None


def worker_role(args):
    """leadsync-worker's --role (sync when absent)."""
    return arg_after(args, "--role") or "sync"


def worker_group(args):
    """The group as leadsync-worker derives it (worker/main.c): --group, or
    "filter" with --role filter. The consumer group id is leadsync-<group>."""
    group = arg_after(args, "--group")
    if group is None and worker_role(args) == "filter":
        group = FILTER_GROUP
    return group


def config_of(objs):
    cm = gen_named(objs, "ConfigMap", "leadsync-config")
    if not ck.true(cm is not None, "ConfigMap leadsync-config rendered"):
        return None
    try:
        return json.loads(cm["data"]["config.json"])
    except (KeyError, ValueError) as e:
        ck.true(False, "ConfigMap leadsync-config holds config.json", str(e))
        return None


def kafka_env(objs):
    cm = gen_named(objs, "ConfigMap", "leadsync-kafka")
    return (cm or {}).get("data", {}).get("KAFKA_BOOTSTRAP_SERVERS")


# --------------------------------------------------------------- 1 render
def render_kubectl(path):
    r = subprocess.run([KUBECTL, "kustomize", path], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(first_lines(r.stderr))
    return docs_of(r.stdout)


def normalise_hashes(kobjs, mobjs):
    """kubectl's objects with generated names' hash suffixes removed."""
    generated = {o["metadata"]["name"] for o in mobjs
                 if o.get("kind") in ("ConfigMap", "Secret")}
    text = json.dumps(kobjs)
    for o in kobjs:
        n = o["metadata"]["name"]
        m = re.fullmatch(r"(.+)-[a-z0-9]{10}", n)
        if o.get("kind") in ("ConfigMap", "Secret") and m and \
                m.group(1) in generated:
            text = text.replace(json.dumps(n), json.dumps(m.group(1)))
    return json.loads(text)


def keyed(objs):
    return {(o.get("kind"), o["metadata"].get("namespace"),
             o["metadata"]["name"]): o for o in objs}


def render_all():
    have_kubectl = KUBECTL != "none" and shutil.which(KUBECTL) is not None
    if have_kubectl:
        print("render: kubectl kustomize "
              f"({shutil.which(KUBECTL)}), cross-checked with "
              "tests/deploy/mini_kustomize.py", flush=True)
    else:
        print("render: kubectl not found; rendering with the minimal "
              "renderer tests/deploy/mini_kustomize.py (documented subset, "
              "no name hashes)", flush=True)
    out = {}
    for name, path in TARGETS.items():
        try:
            mobjs = mini_kustomize.build(path)
        except Exception as e:  # noqa: BLE001 - report and go on
            ck.true(False, f"mini_kustomize renders {name}", repr(e))
            mobjs = None
        objs = mobjs
        if have_kubectl:
            try:
                objs = render_kubectl(path)
                ck.true(True, f"kubectl kustomize renders {name}")
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                ck.true(False, f"kubectl kustomize renders {name}", str(e))
                objs = None
            if objs is not None and mobjs is not None:
                k = keyed(normalise_hashes(objs, mobjs))
                m = keyed(mobjs)
                ck.eq(sorted(k, key=str), sorted(m, key=str),
                      f"{name}: same objects from kubectl and mini_kustomize")
                diff = [key for key in k if key in m and k[key] != m[key]]
                ck.eq(diff, [], f"{name}: objects differ between kubectl and "
                      "mini_kustomize")
        if objs is not None:
            ck.true(len(objs) > 0, f"{name} renders objects")
            out[name] = objs
    return out


# --------------------------------------------------------------- 2 schemas
_validators = {}


def schema_file(obj):
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    kind = obj.get("kind", "").lower()
    if group:
        return f"{kind}-{group.split('.')[0]}-{version}.json"
    return f"{kind}-{version}.json"


def validate(obj, where):
    import jsonschema
    fname = schema_file(obj)
    path = os.path.join(SCHEMAS, fname)
    what = f"{where}: {obj.get('kind')}/{obj['metadata'].get('name')}"
    if not ck.true(os.path.exists(path), f"{what} has a schema", fname):
        return
    if fname not in _validators:
        with open(path) as f:
            _validators[fname] = jsonschema.Draft7Validator(json.load(f))
    errs = sorted(_validators[fname].iter_errors(obj), key=lambda e: e.path)
    ck.true(not errs, f"{what} valid against {fname}",
            "; ".join(f"{'/'.join(map(str, e.path))}: {e.message[:160]}"
                      for e in errs[:3]))


def check_schemas(rendered):
    if not ck.true(os.path.isdir(SCHEMAS), "the JSON Schemas are in the "
                   "repository", SCHEMAS):
        return
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        print("SKIP schema validation: python3-jsonschema is not installed",
              flush=True)
        return
    for name, objs in rendered.items():
        for o in objs:
            validate(o, name)
    with open(os.path.join(K8S, "base", "hubspot-secret.template.yaml")) as f:
        for o in docs_of(f.read()):
            validate(o, "secret template")


# --------------------------------------------------------------- 3 policy
def check_containers(name, objs):
    for dep in of_kind(objs, "Deployment"):
        dn = dep["metadata"]["name"]
        ps = dep["spec"]["template"]["spec"]
        psc = ps.get("securityContext", {})
        ck.eq(psc.get("seccompProfile", {}).get("type"), "RuntimeDefault",
              f"{name}/{dn}: pod seccompProfile")
        ck.eq(ps.get("automountServiceAccountToken"), False,
              f"{name}/{dn}: no service account token mounted")
        for c in containers(dep):
            w = f"{name}/{dn}/{c['name']}"
            res = c.get("resources", {})
            req, lim = res.get("requests", {}), res.get("limits", {})
            for r in ("cpu", "memory"):
                ck.true(r in req, f"{w}: requests.{r}")
                ck.true(r in lim, f"{w}: limits.{r}")
            if all(r in req and r in lim for r in ("cpu", "memory")):
                ck.true(cpu_m(lim["cpu"]) >= cpu_m(req["cpu"]) and
                        mem_b(lim["memory"]) >= mem_b(req["memory"]),
                        f"{w}: limits >= requests", str(res))
            ports = {p.get("name") for p in c.get("ports", [])} | \
                {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                p = c.get(probe)
                if ck.true(p is not None, f"{w}: {probe}"):
                    port = p.get("httpGet", {}).get("port")
                    ck.true(port in ports, f"{w}: {probe} port is a "
                            "container port", f"{port!r} not in {ports}")
            sc = c.get("securityContext", {})
            ck.true(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True,
                    f"{w}: runAsNonRoot")
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            ck.true(isinstance(uid, int) and uid > 0, f"{w}: numeric non-root "
                    "runAsUser", repr(uid))
            ck.eq(sc.get("readOnlyRootFilesystem"), True,
                  f"{w}: readOnlyRootFilesystem")
            ck.eq(sc.get("allowPrivilegeEscalation"), False,
                  f"{w}: allowPrivilegeEscalation")
            ck.eq(sc.get("capabilities", {}).get("drop"), ["ALL"],
                  f"{w}: capabilities drop ALL")
            img = c.get("image", "")
            name_tag = img.split("@")[0].rsplit("/", 1)[-1]
            ck.true(re.search(r"@sha256:[0-9a-f]{64}$", img) or
                    (":" in name_tag and not name_tag.endswith(":latest")),
                    f"{w}: image pinned to a tag or digest", img)
            envfrom = [e.get("configMapRef", {}).get("name", "")
                       for e in c.get("envFrom", [])]
            ck.true(any(n.startswith("leadsync-kafka") for n in envfrom),
                    f"{w}: KAFKA_BOOTSTRAP_SERVERS from leadsync-kafka",
                    str(envfrom))
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            vols = {v["name"]: v for v in ps.get("volumes", [])}
            cm = mounts.get(os.path.dirname(CONFIG_PATH))
            ck.true(cm is not None and vols.get(cm["name"], {})
                    .get("configMap", {}).get("name", "")
                    .startswith("leadsync-config"),
                    f"{w}: config mounted from leadsync-config at "
                    f"{os.path.dirname(CONFIG_PATH)}")


def check_workers(name, objs, topics, cfg):
    deps = [d for d in of_kind(objs, "Deployment")
            if pod_labels(d).get("app.kubernetes.io/component") == "worker"]
    sos = of_kind(objs, "ScaledObject")
    seen = {}
    partitions = {t: spec.get("partitions") for t, spec in topics.items()}
    bootstrap = kafka_env(objs)
    ck.true(bootstrap, f"{name}: leadsync-kafka sets KAFKA_BOOTSTRAP_SERVERS")
    for dep in deps:
        dn = dep["metadata"]["name"]
        c = dep["spec"]["template"]["spec"]["containers"][0]
        args = c.get("args", [])
        ck.eq(c.get("command"), ["leadsync-worker"], f"{name}/{dn}: command")
        role = worker_role(args)
        group = worker_group(args)
        filt = role == "filter"
        events = [] if filt else (arg_after(args, "--events") or "").split(",")
        ck.eq(arg_after(args, "--config"), CONFIG_PATH, f"{name}/{dn}: --config")
        ck.eq(arg_after(args, "--listen"), "0.0.0.0:9100",
              f"{name}/{dn}: --listen")
        ck.true(role in ("sync", "filter"), f"{name}/{dn}: --role is sync or "
                "filter", repr(role))
        if filt:
            ck.eq(group, FILTER_GROUP, f"{name}/{dn}: --role filter runs the "
                  f"group {FILTER_GROUP}")
            ck.true("--events" not in args, f"{name}/{dn}: the filter takes "
                    "no --events", str(args))
        else:
            ck.true(group in GROUPS, f"{name}/{dn}: --group is a known group",
                    repr(group))
            ck.eq(events, GROUPS.get(group),
                  f"{name}/{dn}: --events of {group}")
        ck.eq(pod_labels(dep).get("leadsync.io/group"), group,
              f"{name}/{dn}: leadsync.io/group label")
        ck.true("replicas" not in dep["spec"], f"{name}/{dn}: no replicas "
                "field (KEDA owns the count)")
        ck.true(group not in seen, f"{name}/{dn}: group {group} has one "
                "Deployment")
        seen[group] = events
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        sec = vols.get(mounts.get(TOKEN_DIR), {}).get("secret", {})
        if filt:
            # Least privilege: the filter never calls HubSpot.
            ck.eq([v["name"] for v in vols.values() if "secret" in v or
                   "projected" in v], [],
                  f"{name}/{dn}: no Secret mounted (the filter needs no "
                  "HubSpot token)")
        else:
            ck.eq(sec.get("secretName"), "leadsync-hubspot",
                  f"{name}/{dn}: HubSpot token Secret mounted at {TOKEN_DIR}")
        # Its ScaledObject.
        mine = [s for s in sos if s["spec"]["scaleTargetRef"]["name"] == dn]
        if not ck.eq(len(mine), 1, f"{name}/{dn}: one ScaledObject"):
            continue
        so = mine[0]["spec"]
        trig = [t for t in so.get("triggers", []) if t.get("type") == "kafka"]
        if not ck.eq(len(trig), 1, f"{name}/{dn}: one kafka trigger"):
            continue
        md = trig[0]["metadata"]
        ck.eq(md.get("consumerGroup"), f"leadsync-{group}",
              f"{name}/{dn}: KEDA consumerGroup = leadsync-<group>")
        # Without `topic` KEDA sums the lag over every topic the group has
        # offsets for; the filter's group reads leadsync.held only, and says
        # so.
        ck.eq(md.get("topic"), FILTER_TOPIC if filt else None,
              f"{name}/{dn}: KEDA trigger topic")
        ck.eq(md.get("bootstrapServers"), bootstrap,
              f"{name}/{dn}: KEDA bootstrapServers = KAFKA_BOOTSTRAP_SERVERS")
        for k in ("lagThreshold", "activationLagThreshold"):
            v = md.get(k, "")
            ck.true(isinstance(v, str) and re.fullmatch(r"\d+", v),
                    f"{name}/{dn}: trigger {k} is a count (string)", repr(v))
        ck.true(str(md.get("lagThreshold", "0")).isdigit() and
                int(md["lagThreshold"]) > 0, f"{name}/{dn}: lagThreshold > 0")
        mx, mn = so.get("maxReplicaCount"), so.get("minReplicaCount", 0)
        ck.true(isinstance(mx, int) and 1 <= mx and mn <= mx,
                f"{name}/{dn}: 0 <= minReplicaCount <= maxReplicaCount",
                f"min={mn} max={mx}")
        if filt:
            # Held events wait in memory, not as lag, and expiry runs in the
            # process: scaling the filter to zero would stall both.
            ck.true(isinstance(mn, int) and mn >= 1,
                    f"{name}/{dn}: filter minReplicaCount >= 1", repr(mn))
            ck.true(so.get("fallback", {}).get("replicas", 0) >= 1,
                    f"{name}/{dn}: filter fallback replicas >= 1")
        mine_topics = [FILTER_TOPIC] if filt else \
            ["smartlead." + e.lower() for e in events]
        for t in mine_topics:
            if ck.true(t in partitions, f"{name}/{dn}: topic {t} defined"):
                ck.true(isinstance(mx, int) and mx <= partitions[t],
                        f"{name}/{dn}: maxReplicaCount <= partitions of {t}",
                        f"{mx} > {partitions[t]}")
        if cfg:
            ck.true(isinstance(mx, int) and mx <= cfg["kafka"]["partitions"],
                    f"{name}/{dn}: maxReplicaCount <= config kafka.partitions")
    ck.eq(sorted(seen, key=str), sorted(list(GROUPS) + [FILTER_GROUP]),
          f"{name}: one Deployment per group, and the filter")
    flat = [e for evs in seen.values() for e in evs]
    ck.eq(sorted(flat), sorted(ALL_EVENTS),
          f"{name}: every event type in exactly one group")
    targets = {s["spec"]["scaleTargetRef"]["name"] for s in sos}
    ck.true(targets <= {d["metadata"]["name"] for d in deps} |
            {FANOUT_DEPLOYMENT},
            f"{name}: every ScaledObject targets a worker Deployment or the "
            "fan-out", str(targets))


def endpoints_of(cfg):
    return [e for t in (cfg or {}).get("tenants", [])
            for e in t.get("endpoints", [])]


def check_fanout(name, objs, topics, cfg):
    dep = named(objs, "Deployment", FANOUT_DEPLOYMENT)
    if not ck.true(dep is not None, f"{name}: fan-out Deployment"):
        return
    ps = dep["spec"]["template"]["spec"]
    c = ps["containers"][0]
    args = c.get("args", [])
    ck.eq(c.get("command"), ["leadsync-fanout"], f"{name}: fan-out command")
    ck.eq(arg_after(args, "--config"), CONFIG_PATH, f"{name}: fan-out --config")
    ck.eq(arg_after(args, "--listen"), "0.0.0.0:9100",
          f"{name}: fan-out --listen")
    ck.eq(pod_labels(dep).get("app.kubernetes.io/component"), "fanout",
          f"{name}: fan-out component label")
    ck.true("replicas" not in dep["spec"], f"{name}: fan-out has no replicas "
            "field (KEDA owns the count)")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in ps.get("volumes", [])}
    ck.eq(vols.get(mounts.get(FANOUT_SECRET_DIR), {}).get("secret", {})
          .get("secretName"), "leadsync-fanout",
          f"{name}: endpoint secrets mounted at {FANOUT_SECRET_DIR}")
    ck.true(TOKEN_DIR not in mounts, f"{name}: the fan-out gets no HubSpot "
            "token")
    eps = endpoints_of(cfg)
    with open(os.path.join(K8S, "base", "fanout-secret.template.yaml")) as f:
        tmpl = docs_of(f.read())[0]
    for e in eps:
        sf = e.get("secret_file")
        if sf:
            ck.eq(os.path.dirname(sf), FANOUT_SECRET_DIR,
                  f"{name}: endpoint {e['id']} secret_file in the mount")
            ck.true(os.path.basename(sf) in tmpl.get("stringData", {}),
                    f"{name}: fan-out Secret template has {e['id']}'s key")
        ck.true(e.get("url", "").startswith("https://") and
                not e.get("internal"),
                f"{name}: endpoint {e['id']} is public https")
    mine = [s for s in of_kind(objs, "ScaledObject")
            if s["spec"]["scaleTargetRef"]["name"] == FANOUT_DEPLOYMENT]
    if not ck.eq(len(mine), 1, f"{name}: one ScaledObject for the fan-out"):
        return
    so = mine[0]["spec"]
    trig = so.get("triggers", [])
    ck.true(trig and all(t.get("type") == "kafka" for t in trig),
            f"{name}: fan-out scales on Kafka lag")
    ck.eq(sorted(t["metadata"].get("consumerGroup") for t in trig),
          sorted(f"leadsync-fanout-{e['id']}" for e in eps),
          f"{name}: one trigger per endpoint group leadsync-fanout-<id>")
    bootstrap = kafka_env(objs)
    for t in trig:
        ck.eq(t["metadata"].get("bootstrapServers"), bootstrap,
              f"{name}: fan-out trigger bootstrapServers")
    mx = so.get("maxReplicaCount")
    parts = topics.get("smartlead.email_reply", {}).get("partitions")
    if parts:
        ck.true(isinstance(mx, int) and mx <= parts,
                f"{name}: fan-out maxReplicaCount <= partitions")


def check_ingress(name, objs, cfg):
    dep = named(objs, "Deployment", "leadsync-ingress")
    if not ck.true(dep is not None, f"{name}: ingress Deployment"):
        return
    ps = dep["spec"]["template"]["spec"]
    c = ps["containers"][0]
    ck.eq(c.get("command"), ["leadsync-ingress"], f"{name}: ingress command")
    ck.eq(arg_after(c.get("args", []), "--config"), CONFIG_PATH,
          f"{name}: ingress --config")
    ck.eq(arg_after(c.get("args", []), "--listen"), "0.0.0.0:8080",
          f"{name}: ingress --listen")
    ck.eq([(p.get("name"), p["containerPort"]) for p in c.get("ports", [])],
          [("http", 8080)], f"{name}: ingress port")
    ck.eq(c.get("livenessProbe", {}).get("httpGet", {}).get("path"),
          "/healthz", f"{name}: ingress liveness path")
    ck.eq(c.get("readinessProbe", {}).get("httpGet", {}).get("path"),
          "/readyz", f"{name}: ingress readiness path")
    cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}) \
        .get("command", [])
    delay = int(cmd[1]) if len(cmd) == 2 and cmd[0] == "sleep" and \
        cmd[1].isdigit() else None
    ck.true(delay is not None and delay > 0, f"{name}: ingress preStop sleep",
            str(cmd))
    if cfg and delay is not None:
        drain = cfg["ingress"].get("drain_timeout_s")
        grace = ps.get("terminationGracePeriodSeconds", 30)
        ck.true(isinstance(drain, int) and
                delay + drain < grace <= delay + drain + 30,
                f"{name}: grace period covers preStop + drain_timeout_s",
                f"grace={grace} preStop={delay} drain={drain}")
        ck.eq(cfg["ingress"].get("listen"), "0.0.0.0:8080",
              f"{name}: config ingress.listen matches the container")
    zones = [t for t in ps.get("topologySpreadConstraints", [])
             if t.get("topologyKey") == "topology.kubernetes.io/zone"]
    ck.true(zones and selects(zones[0]["labelSelector"]["matchLabels"],
                              pod_labels(dep)),
            f"{name}: ingress spread across zones")
    # HPA.
    hpas = [h for h in of_kind(objs, "HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]["name"] == "leadsync-ingress"]
    if ck.eq(len(hpas), 1, f"{name}: one HPA for the ingress"):
        h = hpas[0]["spec"]
        ck.eq(h.get("minReplicas"), dep["spec"].get("replicas"),
              f"{name}: HPA minReplicas = Deployment replicas")
        ck.true(h["maxReplicas"] >= h.get("minReplicas", 1),
                f"{name}: HPA max >= min")
        kinds = sorted(m["type"] for m in h.get("metrics", []))
        want = ["Pods", "Resource"] if name == "prod+rps" else ["Resource"]
        ck.eq(kinds, want, f"{name}: HPA metric types")
        for m in h.get("metrics", []):
            if m["type"] == "Resource":
                ck.eq(m["resource"]["name"], "cpu", f"{name}: HPA on cpu")
            if m["type"] == "Pods":
                ck.eq(m["pods"]["metric"]["name"],
                      "leadsync_ingress_requests_per_second",
                      f"{name}: HPA Pods metric")
    ck.true(not [h for h in of_kind(objs, "HorizontalPodAutoscaler")
                 if h["spec"]["scaleTargetRef"]["name"] != "leadsync-ingress"],
            f"{name}: no HPA fights KEDA over a worker")
    # Service and Ingress.
    svc = named(objs, "Service", "leadsync-ingress")
    if ck.true(svc is not None, f"{name}: ingress Service"):
        ck.true(selects(svc["spec"]["selector"], pod_labels(dep)),
                f"{name}: Service selects the ingress pods")
        ck.eq([p["targetPort"] for p in svc["spec"]["ports"]], ["http"],
              f"{name}: Service targets the http port")
    # The console's Ingress is checked by check_console.
    for ing in [i for i in of_kind(objs, "Ingress")
                if i["metadata"]["name"] != CONSOLE_DEPLOYMENT]:
        iname = ing["metadata"]["name"]
        ck.true(ing["spec"].get("tls") and
                all(t.get("secretName") for t in ing["spec"]["tls"]),
                f"{name}/{iname}: TLS")
        for rule in ing["spec"].get("rules", []):
            ck.true(rule.get("host") in
                    [h for t in ing["spec"]["tls"] for h in t["hosts"]],
                    f"{name}/{iname}: host {rule.get('host')} covered by TLS")
            for p in rule["http"]["paths"]:
                ck.eq((p["path"], p["pathType"]),
                      ("/v1/webhooks/smartlead/", "Prefix"),
                      f"{name}/{iname}: only the webhook path is public")
                be = p["backend"]["service"]
                ck.true(svc and be["name"] == "leadsync-ingress" and
                        be["port"].get("name") in
                        [sp["name"] for sp in svc["spec"]["ports"]],
                        f"{name}/{iname}: backend is the ingress Service",
                        str(be))


def check_wiring(name, objs):
    deps = of_kind(objs, "Deployment")
    for pdb in of_kind(objs, "PodDisruptionBudget"):
        ck.true(any(selects(pdb["spec"]["selector"]["matchLabels"],
                            pod_labels(d)) for d in deps),
                f"{name}: PDB {pdb['metadata']['name']} selects pods")
    for d in deps:
        ck.true(any(selects(p["spec"]["selector"]["matchLabels"],
                            pod_labels(d))
                    for p in of_kind(objs, "PodDisruptionBudget")),
                f"{name}: {d['metadata']['name']} has a PDB")
    svcs = of_kind(objs, "Service")
    for s in svcs:
        ck.true(any(selects(s["spec"].get("selector"), pod_labels(d))
                    for d in deps),
                f"{name}: Service {s['metadata']['name']} selects pods")
    for sm in of_kind(objs, "ServiceMonitor"):
        w = f"{name}: ServiceMonitor {sm['metadata']['name']}"
        hits = [s for s in svcs if selects(sm["spec"]["selector"]["matchLabels"],
                                           s["metadata"].get("labels", {}))]
        if ck.true(hits, f"{w} selects a Service"):
            ports = {p.get("name") for s in hits for p in s["spec"]["ports"]}
            for ep in sm["spec"]["endpoints"]:
                ck.true(ep.get("port") in ports and ep.get("path") == "/metrics",
                        f"{w}: scrapes /metrics on a named Service port",
                        str(ep))
    # Every Deployment's /metrics is scraped: a ServiceMonitor selects a
    # Service that selects its pods, on a port the container exposes.
    sms = of_kind(objs, "ServiceMonitor")
    for d in deps:
        c = d["spec"]["template"]["spec"]["containers"][0]
        cports = {p.get("name") for p in c.get("ports", [])} | \
            {p["containerPort"] for p in c.get("ports", [])}
        covered = [
            (s["metadata"]["name"], sm["metadata"]["name"])
            for s in svcs if selects(s["spec"].get("selector"), pod_labels(d))
            for sm in sms
            if selects(sm["spec"]["selector"]["matchLabels"],
                       s["metadata"].get("labels", {}))
            for ep in sm["spec"]["endpoints"]
            for sp in s["spec"]["ports"]
            if sp.get("name") == ep.get("port") and
            sp.get("targetPort", sp["port"]) in cports]
        ck.true(covered, f"{name}: {d['metadata']['name']}'s /metrics scraped "
                "by a ServiceMonitor")
    ns = {o["metadata"].get("namespace") for o in objs
          if o["kind"] != "Namespace"}
    ck.eq(ns, {"leadsync"}, f"{name}: every object in namespace leadsync")
    ck.eq(of_kind(objs, "Secret"), [],
          f"{name}: no Secret rendered (tokens are created out of band)")


def check_console(name, objs, cfg):
    """docs/console.md: the console's Deployment, Service and example
    Ingress agree, its read model lives on a volume of its own, and the
    trusted-proxy mode of the config is what the Ingress sets."""
    dep = named(objs, "Deployment", CONSOLE_DEPLOYMENT)
    if not ck.true(dep is not None, f"{name}: {CONSOLE_DEPLOYMENT}"):
        return
    c = containers(dep)[0]
    args = c.get("args", [])
    ck.eq(c.get("command"), ["leadsync-console"], f"{name}: console command")
    ck.eq(arg_after(args, "--listen"), f"0.0.0.0:{CONSOLE_PORT}",
          f"{name}: console listens on {CONSOLE_PORT}")
    db = arg_after(args, "--db") or ""
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    vol = vols.get(mounts.get(os.path.dirname(db), ""), {})
    ck.true("emptyDir" in vol, f"{name}: the read model on its own emptyDir "
            "(a cache rebuilt from Kafka)", db)
    svc = named(objs, "Service", CONSOLE_DEPLOYMENT)
    if ck.true(svc is not None, f"{name}: console Service"):
        ck.true(selects(svc["spec"]["selector"], pod_labels(dep)),
                f"{name}: console Service selects the console pods")
    ing = [i for i in of_kind(objs, "Ingress")
           if any(p["backend"]["service"]["name"] == CONSOLE_DEPLOYMENT
                  for r in i["spec"]["rules"]
                  for p in r["http"]["paths"])]
    if ck.eq(len(ing), 1, f"{name}: an Ingress for the console"):
        ann = ing[0]["metadata"].get("annotations", {})
        ck.true(ann.get("nginx.ingress.kubernetes.io/auth-url"),
                f"{name}: the console Ingress asks an SSO proxy")
        con = (cfg or {}).get("console", {})
        auth = con.get("auth", {})
        if auth.get("mode") == "proxy":
            ck.eq(ann.get("nginx.ingress.kubernetes.io/auth-response-headers"),
                  auth.get("proxy", {}).get("user_header"),
                  f"{name}: the Ingress passes the header the console trusts")
        kf = con.get("session_key_file", "")
        ck.true(os.path.dirname(kf) in mounts,
                f"{name}: session_key_file is in a mounted Secret", kf)


def np_peers(rule):
    return sorted(p.get("namespaceSelector", {}).get("matchLabels", {})
                  .get("kubernetes.io/metadata.name", "?")
                  for p in rule.get("from", []))


def np_ports(rules):
    return {(p.get("protocol", "TCP"), p["port"]) for r in rules
            for p in r.get("ports", [])}


def check_netpol(name, objs):
    pols = of_kind(objs, "NetworkPolicy")
    deny = [p for p in pols if p["spec"]["podSelector"] == {} and
            sorted(p["spec"].get("policyTypes", [])) == ["Egress", "Ingress"]
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    ck.true(deny, f"{name}: default-deny NetworkPolicy")
    dep_ing = named(objs, "Deployment", "leadsync-ingress")
    workers = [d for d in of_kind(objs, "Deployment")
               if pod_labels(d).get("app.kubernetes.io/component") == "worker"]

    def policy_for(dep):
        return [p for p in pols
                if label_selector_matches(p["spec"]["podSelector"],
                                          pod_labels(dep))]

    def calls_hubspot(dep):
        return worker_role(dep["spec"]["template"]["spec"]["containers"][0]
                           .get("args", [])) != "filter"

    fanout = named(objs, "Deployment", FANOUT_DEPLOYMENT)
    console = named(objs, "Deployment", CONSOLE_DEPLOYMENT)
    ck.true(console is not None, f"{name}: the console Deployment")
    for dep, peers, port, egress_443 in (
            [(dep_ing, [["ingress-nginx"], ["monitoring"]], 8080, False)] +
            [(w, [["monitoring"]], 9100, calls_hubspot(w))
             for w in workers] +
            ([(fanout, [["monitoring"]], 9100, True)] if fanout else []) +
            ([(console, [["ingress-nginx"], ["monitoring"]], CONSOLE_PORT,
               True)] if console else [])):
        dn = dep["metadata"]["name"]
        mine = policy_for(dep)
        if not ck.eq(len(mine), 1, f"{name}/{dn}: one NetworkPolicy"):
            continue
        spec = mine[0]["spec"]
        ck.eq(sorted(np_peers(r) for r in spec.get("ingress", [])),
              sorted(peers), f"{name}/{dn}: ingress only from")
        ck.eq(np_ports(spec.get("ingress", [])), {("TCP", port)},
              f"{name}/{dn}: ingress only on port {port}")
        eg = np_ports(spec.get("egress", []))
        ck.true({("UDP", 53), ("TCP", 9092)} <= eg,
                f"{name}/{dn}: egress to DNS and Kafka", str(sorted(eg)))
        ck.eq(("TCP", 443) in eg, egress_443,
              f"{name}/{dn}: egress to HubSpot (443) only where needed")


_help = {}


def check_cli_args(name, objs):
    """The flags each Deployment passes are ones its binary documents in
    --help (the build's binaries; e.g. --role filter of leadsync-worker)."""
    for dep in of_kind(objs, "Deployment"):
        c = dep["spec"]["template"]["spec"]["containers"][0]
        prog = (c.get("command") or ["?"])[0]
        exe = os.path.join(BUILD, prog)
        if not os.access(exe, os.X_OK):
            if prog not in _help:
                _help[prog] = None
                print(f"SKIP {exe} not built: flags of {prog} not checked",
                      flush=True)
            continue
        if prog not in _help:
            r = subprocess.run([exe, "--help"], capture_output=True,
                               text=True, timeout=10)
            _help[prog] = r.stdout + r.stderr
        text = _help[prog]
        args = c.get("args", [])
        for i, a in enumerate(args):
            if not a.startswith("--"):
                continue
            ck.true(re.search(re.escape(a) + r"\b", text) is not None,
                    f"{name}/{dep['metadata']['name']}: {prog} --help knows "
                    f"{a}")
            if a == "--role" and i + 1 < len(args):
                ck.true(f"--role {args[i + 1]}" in text or
                        args[i + 1] == "sync",
                        f"{name}/{dep['metadata']['name']}: {prog} knows "
                        f"--role {args[i + 1]}")


# --------------------------------------------------------------- kafka
def check_kafka(objs, cfg):
    topics = {}
    for t in of_kind(objs, "KafkaTopic"):
        spec = t["spec"]
        tn = spec.get("topicName", t["metadata"]["name"])
        topics[tn] = spec
        ck.true(re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?",
                             t["metadata"]["name"]) is not None,
                f"KafkaTopic {t['metadata']['name']}: DNS-1123 name")
        ck.true(t["metadata"].get("labels", {}).get("strimzi.io/cluster"),
                f"KafkaTopic {tn}: strimzi.io/cluster label")
    ck.eq(sorted(topics), sorted(ALL_TOPICS), "Kafka topics = docs/kafka-contract.md")
    parts = {t: topics[t].get("partitions") for t in CO_PARTITIONED
             if t in topics}
    ck.eq(len(set(parts.values())), 1,
          "co-partitioned topics share one partition count", )
    if len(set(parts.values())) != 1:
        print(f"  partitions: {parts}", flush=True)
    all_parts = {spec.get("partitions") for spec in topics.values()}
    ck.eq(len(all_parts), 1, "one partition count for every topic")
    if cfg:
        ck.eq(cfg["kafka"].get("partitions"), parts.get("smartlead.email_reply"),
              "config kafka.partitions = topic partitions")
    body_max = (cfg or {}).get("ingress", {}).get("max_body_bytes", 2097152)
    held_days = (cfg or {}).get("worker", {}).get("held_max_age_days", 30)
    for tn, spec in topics.items():
        conf = spec.get("config", {})
        ck.eq(spec.get("replicas"), 3, f"{tn}: replicas")
        ck.eq(int(conf.get("min.insync.replicas", 0)), 2,
              f"{tn}: min.insync.replicas")
        want = ("compact,delete" if tn in COMPACTED_DELETE
                else "compact" if tn in COMPACTED else "delete")
        ck.eq(conf.get("cleanup.policy"), want, f"{tn}: cleanup.policy")
        if tn in COMPACTED_DELETE:
            # docs/worker.md "State": retention = worker.dedup_window (8 d).
            ck.eq(int(conf.get("retention.ms", 0)), 8 * 86400 * 1000,
                  f"{tn}: retention.ms is the dedup window")
        if want == "delete":
            ck.true(int(conf.get("retention.ms", 0)) > 0,
                    f"{tn}: explicit retention.ms")
        if tn.startswith("smartlead.") or tn in ("leadsync.held",
                                                 "leadsync.dlq"):
            ck.true(int(conf.get("max.message.bytes", 0)) > body_max,
                    f"{tn}: max.message.bytes above ingress.max_body_bytes",
                    f"{conf.get('max.message.bytes')} <= {body_max}")
    held = topics.get("leadsync.held", {}).get("config", {})
    ck.true(int(held.get("retention.ms", 0)) > held_days * 86400000,
            "leadsync.held retention exceeds worker.held_max_age_days",
            f"{held.get('retention.ms')} vs {held_days} days")
    if cfg:
        mmb = int(cfg["kafka"].get("properties", {})
                  .get("message.max.bytes", 1000000))
        ck.true(mmb > body_max, "producer message.max.bytes above "
                "ingress.max_body_bytes", f"{mmb} <= {body_max}")
    return topics


# --------------------------------------------------------------- 4 config
SECRETISH = re.compile(r"token|secret|password|passwd|credential|sasl|key",
                       re.I)
ALLOWED_SECRET_REFS = {"token_sha256", "token_file", "token_env",
                       "session_key_file",
                       "secret_key_sha256", "secret_key_env", "topic_prefix",
                       "secret_file", "secret_env",
                       "sasl.mechanism", "sasl.mechanisms",
                       "ssl.key.location", "ssl.keystore.location",
                       "api_key_file", "api_key_env"}


def secret_values(node, path="$"):
    """Paths of keys that look like they hold a secret value."""
    bad = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}"
            if SECRETISH.search(k) and k not in ALLOWED_SECRET_REFS and \
                    not isinstance(v, (dict, list)):
                bad.append(p)
            bad += secret_values(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            bad += secret_values(v, f"{path}[{i}]")
    return bad


def check_config(name, cfg):
    with open(os.path.join(SOURCE, "config", "dev.json")) as f:
        dev = json.load(f)
    ck.eq(sorted(cfg), sorted(dev), f"{name}: config top-level keys as in "
          "config/dev.json")
    for sec in ("kafka", "ingress", "worker"):
        ck.true(set(dev[sec]) <= set(cfg.get(sec, {})),
                f"{name}: config {sec} has dev.json's keys",
                str(sorted(set(dev[sec]) - set(cfg.get(sec, {})))))
    ck.eq(secret_values(cfg), [], f"{name}: no secret values in config")
    with open(os.path.join(K8S, "base", "hubspot-secret.template.yaml")) as f:
        tmpl = docs_of(f.read())[0]
    for t in cfg.get("tenants", []):
        hs = t.get("hubspot", {})
        ck.eq(hs.get("base_url"), "https://api.hubapi.com",
              f"{name}: tenant {t.get('id')} uses the real HubSpot API")
        tf = hs.get("token_file", "")
        ck.eq(os.path.dirname(tf), TOKEN_DIR,
              f"{name}: tenant {t.get('id')} token_file in the Secret mount")
        ck.true(os.path.basename(tf) in tmpl.get("stringData", {}),
                f"{name}: Secret template has tenant {t.get('id')}'s key",
                os.path.basename(tf))
    # The project's JSON Schema for the config (part of the repository).
    schema = os.path.join(SOURCE, "schemas", "config.schema.json")
    if not ck.true(os.path.exists(schema), f"{name}: {schema} exists"):
        return
    import jsonschema
    with open(schema) as f:
        s = json.load(f)
    cls = jsonschema.validators.validator_for(s, jsonschema.Draft7Validator)
    errs = list(cls(s).iter_errors(cfg))
    ck.true(not errs, f"{name}: config valid against "
            "schemas/config.schema.json",
            "; ".join(f"{'/'.join(map(str, e.path))}: {e.message[:160]}"
                      for e in errs[:3]))
    cli = os.path.join(BUILD, "leadsync")
    if not os.access(cli, os.X_OK):
        # Under ctest (LS_BUILD_DIR set) the CLI is part of the build: its
        # absence is a failure. A bare run from a clone without a build skips.
        if os.environ.get("LS_BUILD_DIR"):
            ck.true(False, f"{name}: {cli} built for `leadsync config check`")
        else:
            print(f"SKIP {name}: {cli} not built, `leadsync config check` "
                  "not run (set LS_BUILD_DIR)", flush=True)
        return
    print(f"{name}: running {cli} config check", flush=True)
    with tempfile.TemporaryDirectory(prefix="ls-deploy-") as d:
        # config check also resolves every HubSpot token "as seen from this
        # environment": stand in for the Secret mount with dummy token files.
        cfg = json.loads(json.dumps(cfg))
        for t in cfg.get("tenants", []):
            tf = t.get("hubspot", {}).get("token_file")
            if tf:
                t["hubspot"]["token_file"] = os.path.join(
                    d, os.path.basename(tf))
                with open(t["hubspot"]["token_file"], "w") as f:
                    f.write("pat-na1-placeholder\n")
            for e in t.get("endpoints", []):
                if e.get("secret_file"):
                    e["secret_file"] = os.path.join(
                        d, "fanout-" + os.path.basename(e["secret_file"]))
                    with open(e["secret_file"], "w") as f:
                        f.write("whsec_cGxhY2Vob2xkZXItc2VjcmV0LWZvci10ZXN0cw==\n")
        good = os.path.join(d, "config.json")
        with open(good, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ)
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        env.setdefault("LEADSYNC_SCHEMA_DIR", os.path.join(SOURCE, "schemas"))
        r = subprocess.run([cli, "config", "check", good], capture_output=True,
                           text=True, timeout=30, env=env)
        ck.eq(r.returncode, 0, f"{name}: leadsync config check passes")
        if r.returncode != 0:
            print(first_lines(r.stdout + r.stderr), flush=True)
        # The check must be able to fail: a copy with a broken token hash.
        bad_cfg = json.loads(json.dumps(cfg))
        bad_cfg["tenants"][0]["sources"][0]["token_sha256"] = "not-a-hash"
        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            json.dump(bad_cfg, f)
        r = subprocess.run([cli, "config", "check", bad], capture_output=True,
                           text=True, timeout=30, env=env)
        ck.true(r.returncode != 0, f"{name}: leadsync config check rejects a "
                "broken copy", first_lines(r.stdout + r.stderr, 3))


def check_secret_template():
    with open(os.path.join(K8S, "base", "hubspot-secret.template.yaml")) as f:
        tmpl = docs_of(f.read())
    ck.eq([t.get("kind") for t in tmpl], ["Secret"], "secret template: one "
          "Secret")
    ck.true(tmpl and not tmpl[0].get("data"), "secret template: no base64 "
            "data, placeholders in stringData only")
    for t in tmpl:
        for k, v in (t.get("stringData") or {}).items():
            ck.true(str(v).startswith("REPLACE_"), f"secret template {k}: "
                    "placeholder only, no real value")
    with open(os.path.join(K8S, "base", "kustomization.yaml")) as f:
        ck.true("hubspot-secret.template.yaml" not in
                (yaml.safe_load(f).get("resources") or []),
                "secret template is not applied by the base")


# ------------------------------------------------------------ assurance
SMARTLEAD_KEY_DIR = "/var/run/secrets/leadsync/smartlead"


def check_assurance(name, objs, cfg):
    """docs/assurance.md: one active replica (leader election through the
    leadsync-assurance group), API keys from the leadsync-smartlead Secret
    mount, egress to DNS, Kafka and 443 (Smartlead) only, /metrics scraped."""
    dep = named(objs, "Deployment", "leadsync-assurance")
    if not ck.true(dep is not None, f"{name}: leadsync-assurance Deployment"):
        return
    ck.eq(dep["spec"].get("replicas"), 1, f"{name}: assurance: one replica")
    c = containers(dep)[0]
    ck.eq(c.get("command"), ["leadsync-assurance"],
          f"{name}: assurance runs leadsync-assurance")
    ck.eq(arg_after(c.get("args", []), "--config"), CONFIG_PATH,
          f"{name}: assurance reads the shared config")
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    m = mounts.get(SMARTLEAD_KEY_DIR)
    ck.true(m is not None and vols.get(m["name"], {}).get("secret", {})
            .get("secretName") == "leadsync-smartlead",
            f"{name}: assurance mounts the leadsync-smartlead Secret at "
            f"{SMARTLEAD_KEY_DIR}")
    ck.true(not any(v.get("secret", {}).get("secretName") == "leadsync-hubspot"
                    for v in vols.values()),
            f"{name}: assurance never sees HubSpot tokens")
    pols = [p for p in of_kind(objs, "NetworkPolicy")
            if label_selector_matches(p["spec"]["podSelector"],
                                      pod_labels(dep))]
    if ck.eq(len(pols), 1, f"{name}: assurance: one NetworkPolicy"):
        spec = pols[0]["spec"]
        eg = np_ports(spec.get("egress", []))
        ck.eq(eg, {("UDP", 53), ("TCP", 53), ("TCP", 9092), ("TCP", 9093),
                   ("TCP", 443)}, f"{name}: assurance egress: DNS, Kafka, "
              "Smartlead (443) only")
        ck.eq(np_ports(spec.get("ingress", [])), {("TCP", 9100)},
              f"{name}: assurance ingress: metrics only")
        ips = [p.get("ipBlock") for r in spec.get("egress", [])
               for p in r.get("to", []) if p.get("ipBlock")]
        ck.true(ips and all("10.0.0.0/8" in (i.get("except") or [])
                            for i in ips),
                f"{name}: assurance 443 egress excludes private ranges")
    if cfg:
        for t in cfg.get("tenants", []):
            kf = t.get("smartlead", {}).get("api_key_file")
            if kf:
                ck.eq(os.path.dirname(kf), SMARTLEAD_KEY_DIR,
                      f"{name}: tenant {t.get('id')} api_key_file in the "
                      "Secret mount")
                with open(os.path.join(
                        K8S, "base", "smartlead-secret.template.yaml")) as f:
                    tmpl = docs_of(f.read())[0]
                ck.true(os.path.basename(kf) in tmpl.get("stringData", {}),
                        f"{name}: Smartlead Secret template has tenant "
                        f"{t.get('id')}'s key")


def check_smartlead_secret_template():
    path = os.path.join(K8S, "base", "smartlead-secret.template.yaml")
    with open(path) as f:
        tmpl = docs_of(f.read())
    ck.eq([t.get("kind") for t in tmpl], ["Secret"],
          "smartlead secret template: one Secret")
    for t in tmpl:
        validate(t, "smartlead secret template")
        ck.true(not t.get("data"), "smartlead secret template: no data")
        for k, v in (t.get("stringData") or {}).items():
            ck.true(str(v).startswith("REPLACE_"),
                    f"smartlead secret template {k}: placeholder only")
    with open(os.path.join(K8S, "base", "kustomization.yaml")) as f:
        ck.true("smartlead-secret.template.yaml" not in
                (yaml.safe_load(f).get("resources") or []),
                "smartlead secret template is not applied by the base")


# --------------------------------------------------------------- 5 docker
def dockerfile_instructions(path):
    with open(path) as f:
        raw = f.read()
    out, cur = [], ""
    for line in raw.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        cur += (" " if cur else "") + s.rstrip("\\").strip()
        if not s.endswith("\\"):
            op, _, rest = cur.partition(" ")
            out.append((op.upper(), rest.strip()))
            cur = ""
    return out


# pkg-config module in CMakeLists.txt -> Debian 12 runtime package.
RUNTIME_PKG = {"rdkafka": "librdkafka1", "libmicrohttpd": "libmicrohttpd12",
               "jansson": "libjansson4", "libcurl": "libcurl4",
               "libcrypto": "libssl3", "libssl": "libssl3",
               "sqlite3": "libsqlite3-0"}


def check_dockerfile():
    path = os.path.join(DEPLOY, "docker", "Dockerfile")
    if not ck.true(os.path.exists(path), "deploy/docker/Dockerfile exists"):
        return
    ins = dockerfile_instructions(path)
    stages, cur = [], None
    for op, rest in ins:
        if op == "FROM":
            cur = {"from": rest, "ins": []}
            stages.append(cur)
        elif cur is not None:
            cur["ins"].append((op, rest))
    ck.true(len(stages) >= 2, "Dockerfile: multi-stage", str(len(stages)))
    for st in stages:
        image = st["from"].split()[0]
        ck.true(re.fullmatch(r"debian:(12|bookworm)(\.\d+)?(-slim)?"
                             r"(@sha256:[0-9a-f]{64})?|debian:bookworm-\d{8}"
                             r"(-slim)?(@sha256:[0-9a-f]{64})?", image)
                is not None, "Dockerfile: base image pinned to a Debian 12 tag",
                image)
    final = stages[-1]
    ck.true("-slim" in final["from"], "Dockerfile: runtime on a slim image",
            final["from"])
    users = [r for op, r in final["ins"] if op == "USER"]
    ck.true(users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1])
            is not None, "Dockerfile: final USER numeric and non-root",
            str(users))
    all_ins = [i for st in stages for i in st["ins"]]
    for op, rest in all_ins:
        if op == "ADD":
            ck.true(not re.search(r"\b(https?|ftp)://", rest),
                    "Dockerfile: no ADD of URLs", rest)
        if op == "RUN" and "apt-get install" in rest:
            ck.true("--no-install-recommends" in rest,
                    "Dockerfile: apt-get install --no-install-recommends",
                    rest[:80])
            ck.true("rm -rf /var/lib/apt/lists/*" in rest,
                    "Dockerfile: apt lists removed in the same RUN", rest[:80])
        if op == "RUN" and "apt-get update" in rest:
            ck.true("apt-get install" in rest,
                    "Dockerfile: apt-get update only together with install")
        if op in ("ENV", "ARG"):
            ck.true(not re.search(r"TOKEN|SECRET|PASSWORD", rest, re.I),
                    "Dockerfile: no secrets in ENV/ARG", rest)
    build_runs = " ; ".join(r for st in stages[:-1] for op, r in st["ins"]
                            if op == "RUN")
    with open(os.path.join(SOURCE, "Makefile")) as f:
        makefile = f.read()
    ck.true("./scripts/bootstrap.sh" in build_runs and
            "./scripts/bootstrap.sh" in makefile,
            "Dockerfile: toolchain from scripts/bootstrap.sh, as CI")
    ck.true(re.search(r"cmake -S \. -B build\b", build_runs) and
            "cmake -S . -B $(BUILD)" in makefile and
            re.search(r"cmake --build build\b", build_runs),
            "Dockerfile: cmake -S . -B build / cmake --build, as make build")
    # What gets installed is cmake/LsInstall.cmake's business (the
    # install_tree test runs it); the image must use it, under /usr.
    ck.true(re.search(r"cmake --build build\b[^;&]*--target ls_installed\b",
                      build_runs),
            "Dockerfile: builds the ls_installed target")
    ck.true(re.search(r"cmake --install build --prefix /out/usr\b",
                      build_runs),
            "Dockerfile: cmake --install build --prefix /out/usr")
    env = " ".join(r for op, r in final["ins"] if op == "ENV")
    ck.true("LEADSYNC_SCHEMA_DIR=/usr/share/leadsync/schemas" in env,
            "Dockerfile: LEADSYNC_SCHEMA_DIR set", env)
    ck.true("LEADSYNC_CONSOLE_WWW=/usr/share/leadsync/console" in env,
            "Dockerfile: LEADSYNC_CONSOLE_WWW set", env)
    ck.true(any(op == "COPY" and "--from=" in r for op, r in final["ins"]),
            "Dockerfile: runtime copies only the build stage's output")
    runtime_runs = " ".join(r for op, r in final["ins"] if op == "RUN")
    ck.true(not re.search(r"\S+-dev\b|build-essential|\bcmake\b|\bgcc\b|"
                          r"\bclang\b", runtime_runs),
            "Dockerfile: no toolchain or -dev packages at run time")
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        cmake = f.read()
    # Required pkg-config modules of every CMakeLists.txt (the console's
    # sqlite3 is declared in console/).
    required = cmake
    for d, _, names in os.walk(SOURCE):
        if "CMakeLists.txt" in names and d != SOURCE and \
                not os.path.relpath(d, SOURCE).startswith(("build", ".")):
            with open(os.path.join(d, "CMakeLists.txt")) as f:
                required += f.read()
    for mods in re.findall(r"pkg_check_modules\(\w+\s+REQUIRED\s+"
                           r"IMPORTED_TARGET\s+([^)]+)\)", required):
        for mod in mods.split():
            pkg = RUNTIME_PKG.get(re.split(r"[<>=]", mod)[0])
            ck.true(pkg and re.search(r"\b" + re.escape(pkg) + r"\b",
                                      runtime_runs),
                    f"Dockerfile: runtime package for pkg-config {mod}",
                    str(pkg))
    ck.true("ca-certificates" in runtime_runs,
            "Dockerfile: ca-certificates for HubSpot TLS")
    hc = [r for op, r in final["ins"] if op == "HEALTHCHECK"]
    labels = " ".join(r for op, r in final["ins"] if op == "LABEL")
    ck.true(hc and (hc[0] != "NONE" or "probes" in labels),
            "Dockerfile: HEALTHCHECK, or NONE with the probes documented")
    # .dockerignore must not hide anything the CMake build adds.
    di = os.path.join(SOURCE, ".dockerignore")
    if ck.true(os.path.exists(di), ".dockerignore exists"):
        with open(di) as f:
            pats = [p.strip() for p in f if p.strip() and
                    not p.startswith("#") and not p.startswith("!")]
        for must in (".git", "build"):
            ck.true(must in pats, f".dockerignore excludes {must}")
        needed = re.findall(r"add_subdirectory\((\S+)\)", cmake) + \
            ["CMakeLists.txt", "scripts", "schemas"]
        for n in needed:
            top = n.split("/")[0]
            ck.true(not any(fnmatch.fnmatch(n, p) or fnmatch.fnmatch(top, p)
                            for p in pats),
                    f".dockerignore keeps {n} (the build needs it)")


# --------------------------------------------------------------- 6 yamllint
def check_yamllint():
    exe = shutil.which("yamllint")
    if not exe:
        print("SKIP yamllint: not installed (scripts/bootstrap.sh installs "
              "it)", flush=True)
        return
    r = subprocess.run([exe, "-f", "parsable", "-c",
                        os.path.join(DEPLOY, ".yamllint"), DEPLOY, HERE],
                       capture_output=True, text=True, timeout=60)
    ck.eq(r.returncode, 0, "yamllint deploy/ tests/deploy/ (deploy/.yamllint)")
    if r.returncode != 0:
        print(first_lines(r.stdout + r.stderr, 20), flush=True)


# --------------------------------------------------------------- main
def run(fn, *args):
    """Runs one group of checks; a manifest too broken to inspect (a missing
    key, a wrong type) counts as one failure instead of ending the test."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001
        where = [a for a in args if isinstance(a, str)]
        ck.true(False, f"{fn.__name__}{where} could inspect the manifests",
                repr(e))
        return None


def main():
    rendered = render_all()
    run(check_schemas, rendered)
    topics = {}
    if "kafka" in rendered:
        cfg = config_of(rendered["prod"]) if "prod" in rendered else None
        topics = run(check_kafka, rendered["kafka"], cfg) or {}
    for name in APPLIED:
        objs = rendered.get(name)
        if objs is None:
            continue
        cfg = config_of(objs)
        run(check_containers, name, objs)
        run(check_workers, name, objs, topics, cfg)
        run(check_fanout, name, objs, topics, cfg)
        run(check_ingress, name, objs, cfg)
        run(check_console, name, objs, cfg)
        run(check_wiring, name, objs)
        run(check_netpol, name, objs)
        run(check_cli_args, name, objs)
        run(check_assurance, name, objs, cfg)
        if cfg:
            run(check_config, name, cfg)
    run(check_secret_template)
    run(check_smartlead_secret_template)
    run(check_dockerfile)
    run(check_yamllint)
    ck.done()


if __name__ == "__main__":
    main()
