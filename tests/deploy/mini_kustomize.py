"""mini_kustomize: a minimal kustomize renderer, the fallback of
tests/deploy/test_manifests.py on machines without kubectl.

It implements only the subset deploy/k8s uses, and refuses anything else
(raising Unsupported) instead of rendering it wrongly:

  kind: Kustomization / Component
  resources        files (multi-document YAML) and directories (kustomizations)
  components       directories holding a kind: Component kustomization
  namespace        set on every namespaced object
  labels           pairs; includeSelectors/includeTemplates must be false
  configMapGenerator / secretGenerator
                   files and literals; behavior create, merge or replace
  images           name -> newName / newTag / digest
  replicas         name -> count
  patches          inline or path JSON 6902 patches (add, replace, remove)
                   with a target of kind/name/group/version/namespace/
                   labelSelector (equality terms only)

Differences from kustomize, on purpose: generated ConfigMaps and Secrets get
no content-hash suffix (so no name references need rewriting), and objects
come out in resource order, not kustomize's kind order. When kubectl is
present, the test renders with both and checks they agree up to these two
differences, so this file cannot drift silently from the real thing.

Usage: python3 mini_kustomize.py DIR   (prints the rendered YAML)
"""
import base64
import copy
import os
import sys

import yaml


class Unsupported(Exception):
    pass


KNOWN_FIELDS = {"apiVersion", "kind", "resources", "components", "namespace",
                "labels", "configMapGenerator", "secretGenerator",
                "generatorOptions", "images", "replicas", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "PersistentVolume",
                  "StorageClass", "PriorityClass"}


def _load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def _kustomization(dirpath):
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        p = os.path.join(dirpath, name)
        if os.path.exists(p):
            with open(p) as f:
                kz = yaml.safe_load(f) or {}
            unknown = set(kz) - KNOWN_FIELDS
            if unknown:
                raise Unsupported(f"{p}: fields {sorted(unknown)}")
            return kz
    raise Unsupported(f"{dirpath}: no kustomization.yaml")


def _generate(kz, dirpath, objs, kind):
    key = "configMapGenerator" if kind == "ConfigMap" else "secretGenerator"
    for g in kz.get(key, []) or []:
        data = {}
        for lit in g.get("literals", []) or []:
            k, _, v = lit.partition("=")
            data[k] = v
        for spec in g.get("files", []) or []:
            k, sep, rel = spec.partition("=")
            if not sep:
                k, rel = os.path.basename(spec), spec
            with open(os.path.join(dirpath, rel)) as f:
                data[k] = f.read()
        if kind == "Secret":
            data = {k: base64.b64encode(v.encode()).decode()
                    for k, v in data.items()}
        behavior = g.get("behavior", "create")
        existing = [o for o in objs if o.get("kind") == kind
                    and o["metadata"].get("name") == g["name"]]
        if behavior == "create":
            if existing:
                raise Unsupported(f"{kind} {g['name']} generated twice")
            obj = {"apiVersion": "v1", "kind": kind,
                   "metadata": {"name": g["name"]}, "data": data}
            if kind == "Secret":
                obj["type"] = g.get("type", "Opaque")
            objs.append(obj)
        elif behavior in ("merge", "replace"):
            if len(existing) != 1:
                raise Unsupported(f"{kind} {g['name']}: nothing to {behavior}")
            if behavior == "replace":
                existing[0]["data"] = {}
            existing[0].setdefault("data", {}).update(data)
        else:
            raise Unsupported(f"generator behavior {behavior}")


def _matches(obj, target):
    for field in target:
        if field not in ("kind", "name", "group", "version", "namespace",
                         "labelSelector"):
            raise Unsupported(f"patch target field {field}")
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    md = obj.get("metadata", {})
    if "kind" in target and obj.get("kind") != target["kind"]:
        return False
    if "name" in target and md.get("name") != target["name"]:
        return False
    if "group" in target and group != target["group"]:
        return False
    if "version" in target and version != target["version"]:
        return False
    if "namespace" in target and md.get("namespace") != target["namespace"]:
        return False
    if "labelSelector" in target:
        labels = md.get("labels") or {}
        for term in target["labelSelector"].split(","):
            k, eq, v = term.partition("=")
            if not eq or k.endswith("!"):
                raise Unsupported(f"labelSelector term {term!r}")
            if labels.get(k.strip()) != v.strip():
                return False
    return True


def _pointer(path):
    if not path.startswith("/"):
        raise Unsupported(f"JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json6902(doc, ops):
    for op in ops:
        parts = _pointer(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if kind not in ("add", "replace", "remove"):
            raise Unsupported(f"JSON patch op {kind}")
        if isinstance(parent, list):
            if kind == "add":
                idx = len(parent) if last == "-" else int(last)
                parent.insert(idx, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[int(last)] = copy.deepcopy(op["value"])
            else:
                del parent[int(last)]
        else:
            if kind == "replace" and last not in parent:
                raise KeyError(f"replace of missing {op['path']}")
            if kind == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(op["value"])


def _pod_spec(obj):
    spec = obj.get("spec") or {}
    return (spec.get("template") or {}).get("spec")


def _transform(kz, dirpath, objs):
    for p in kz.get("patches", []) or []:
        text = p.get("patch")
        if text is None and "path" in p:
            with open(os.path.join(dirpath, p["path"])) as f:
                text = f.read()
        ops = yaml.safe_load(text)
        if not isinstance(ops, list):
            raise Unsupported("strategic-merge patches")
        hit = [o for o in objs if _matches(o, p.get("target") or {})]
        if not hit:
            raise Unsupported(f"patch target {p.get('target')} matches nothing")
        for o in hit:
            _json6902(o, ops)
    ns = kz.get("namespace")
    if ns:
        for o in objs:
            if o.get("kind") not in CLUSTER_SCOPED:
                o["metadata"]["namespace"] = ns
    for lab in kz.get("labels", []) or []:
        if lab.get("includeSelectors") or lab.get("includeTemplates"):
            raise Unsupported("labels with includeSelectors/includeTemplates")
        for o in objs:
            o["metadata"].setdefault("labels", {}).update(lab.get("pairs", {}))
    for r in kz.get("replicas", []) or []:
        for o in objs:
            if o["metadata"].get("name") == r["name"] and \
                    o.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet"):
                o["spec"]["replicas"] = r["count"]
    for img in kz.get("images", []) or []:
        for o in objs:
            ps = _pod_spec(o)
            if not ps:
                continue
            for c in ps.get("containers", []) + ps.get("initContainers", []):
                name = c["image"].split("@")[0]
                if ":" in name.rsplit("/", 1)[-1]:
                    name = name.rsplit(":", 1)[0]
                if name != img["name"]:
                    continue
                new = img.get("newName", name)
                if "digest" in img:
                    c["image"] = f"{new}@{img['digest']}"
                elif "newTag" in img:
                    c["image"] = f"{new}:{img['newTag']}"
                else:
                    c["image"] = new


def _apply(kz, dirpath, objs):
    for r in kz.get("resources", []) or []:
        p = os.path.normpath(os.path.join(dirpath, r))
        objs.extend(build(p) if os.path.isdir(p) else _load_docs(p))
    for c in kz.get("components", []) or []:
        cdir = os.path.normpath(os.path.join(dirpath, c))
        ckz = _kustomization(cdir)
        if ckz.get("kind") != "Component":
            raise Unsupported(f"{cdir} is not a kind: Component")
        _apply(ckz, cdir, objs)
    _generate(kz, dirpath, objs, "ConfigMap")
    _generate(kz, dirpath, objs, "Secret")
    _transform(kz, dirpath, objs)


def build(dirpath):
    """Renders the kustomization in dirpath to a list of objects."""
    kz = _kustomization(dirpath)
    if kz.get("kind", "Kustomization") != "Kustomization":
        raise Unsupported(f"{dirpath}: a Component cannot be built alone")
    objs = []
    _apply(kz, dirpath, objs)
    return objs


if __name__ == "__main__":
    yaml.safe_dump_all(build(sys.argv[1]), sys.stdout, sort_keys=False)
