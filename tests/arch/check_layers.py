#!/usr/bin/env python3
"""The include graph of the C sources: no cycles, lib/ layers only downward.

A module is a .c/.h pair (ls_config.c + ls_config.h) in one folder. Module A
uses module B when a file of A has `#include "b.h"`; quoted includes are
resolved the way the build finds them: the includer's own folder first,
then a header name that exists once in the tree. The check fails when

  1. modules use each other in a cycle (A -> B -> ... -> A), anywhere in
     the tree (lib/, every binary's folder, tests/, bench/, dev/);
  2. a lib/ module includes a header of a lib/ layer it may not use
     (LAYERS below), or a header outside lib/ (lib/ never sees a binary);
  3. a lib/ layer's CMakeLists.txt links a lib/ library it may not use, or
     a lib/ folder other than hubspot/ links libcurl or includes curl.h;
  4. a folder under lib/ holds C files but has no row in LAYERS (a new
     layer states what it may use before it compiles).

Run with a source tree as the argument (default: this repository);
--self-test first builds small trees with each kind of fault and checks
that every one of them is reported.
"""
import os
import re
import sys
import tempfile

# lib/ folder -> (CMake target, the lib/ folders its modules may include).
LAYERS = {
    "core": ("ls_core", {"core"}),
    "model": ("ls_model", {"core", "model"}),
    "ops": ("ls_ops", {"core", "ops"}),
    "kafka": ("ls_kafka", {"core", "model", "kafka"}),
    "hubspot": ("ls_hubspot", {"core", "model", "hubspot"}),
}
# Files that are part of another module: a private header and its .c kept
# apart for reading, included only by the module they belong to (checked).
# ls_evid is the event model's occurrence-id rule, called only from
# ls_event_identify and reading the ls_event it fills in.
PARTS = {
    "lib/model/ls_evid": "lib/model/ls_event",
}
# Folders whose cycles are being taken apart in another change: reported,
# not failed; remove the entry once the folder has none (the script says
# so). None now: worker/'s process struct (wrk.h) reaches the modules'
# state through pointers and includes none of their headers.
PENDING = set()
# Folders that are not sources of the product or its tests.
SKIP_DIRS = {".git", "build", "build-release", "build-fuzz", "node_modules",
             ".run", "corpus", "fixtures", "www"}
INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.M)
CURL_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+<curl\/', re.M)
LINK_RE = re.compile(r"target_link_libraries\s*\(([^)]*)\)", re.S)


def c_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs
                         if x not in SKIP_DIRS and not x.startswith("build"))
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(d, f), root)


def module_of(path):
    stem = os.path.splitext(path)[0]
    return PARTS.get(stem.replace(os.sep, "/"), stem)


def lib_layer(path):
    """The lib/ folder of a path ("core", "." for lib/ itself), or None."""
    parts = path.split(os.sep)
    if parts[0] != "lib":
        return None
    return "." if len(parts) == 2 else parts[1]


def check(root, notes=None):
    """The problems found under root; notes (a list) gets what is only
    reported."""
    if notes is None:
        notes = []
    files = list(c_files(root))
    by_name = {}
    for f in files:
        if f.endswith(".h"):
            by_name.setdefault(os.path.basename(f), []).append(f)
    problems = []
    edges = {}  # module -> {module: "file:line #include ..."}
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8",
                  errors="replace") as fh:
            text = fh.read()
        mod = module_of(f)
        edges.setdefault(mod, {})
        layer = lib_layer(f)
        if layer is not None and layer not in LAYERS:
            problems.append("%s: lib/%s is not a known layer (add it to "
                            "LAYERS in tests/arch/check_layers.py)"
                            % (f, layer))
        if layer not in (None, "hubspot") and CURL_RE.search(text):
            problems.append("%s: includes curl/ outside lib/hubspot" % f)
        for m in INCLUDE_RE.finditer(text):
            name = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            where = "%s:%d #include \"%s\"" % (f, line, name)
            local = os.path.normpath(os.path.join(os.path.dirname(f), name))
            if local in by_name.get(os.path.basename(name), []):
                target = local
            elif len(by_name.get(os.path.basename(name), [])) == 1:
                target = by_name[os.path.basename(name)][0]
            elif name in by_name:
                problems.append("%s: ambiguous, %s" % (where,
                                                       " ".join(by_name[name])))
                continue
            else:
                continue  # generated or system header
            tmod = module_of(target)
            if os.path.splitext(target)[0] in PARTS and tmod != mod:
                problems.append("%s: %s is private to %s"
                                % (where, target, tmod))
            if tmod != mod:
                edges[mod].setdefault(tmod, where)
            if layer in LAYERS:
                tlayer = lib_layer(target)
                if tlayer is None:
                    problems.append("%s: lib/ includes %s outside lib/"
                                    % (where, target))
                elif tlayer not in LAYERS[layer][1]:
                    problems.append("%s: layer %s may not use layer %s"
                                    % (where, layer, tlayer))
    seen = set()
    for comp, text in cycles(edges):
        folders = {os.path.dirname(m) for m in comp}
        if len(folders) == 1 and folders <= PENDING:
            seen |= folders
            notes.append("pending (PENDING in check_layers.py), %d modules "
                         "in one cycle: %s" % (len(comp), text))
        else:
            problems.append(text)
    for folder in sorted(PENDING - seen):
        notes.append("PENDING entry %s: no cycle there any more, remove it"
                     % folder)
    problems += cmake_links(root)
    return problems


def cycles(edges):
    """Tarjan's strongly connected components; each one of two or more
    modules is reported with one include per step around a cycle."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        # Iterative, so a deep graph cannot hit Python's recursion limit.
        work = [(v, iter(sorted(edges.get(v, {}))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, {})))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append((tuple(sorted(comp)),
                                describe_cycle(sorted(comp), edges)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def describe_cycle(comp, edges):
    members = set(comp)
    path = [comp[0]]
    while True:
        nxt = sorted(w for w in edges[path[-1]] if w in members)
        # Prefer closing the loop, else a module not yet on the path.
        if comp[0] in nxt and len(path) > 1:
            path.append(comp[0])
            break
        fresh = [w for w in nxt if w not in path]
        if not fresh:
            path.append(nxt[0])
            break
        path.append(fresh[0])
    steps = ["  %s" % edges[a][b] for a, b in zip(path, path[1:])]
    return "include cycle: %s\n%s" % (" -> ".join(path), "\n".join(steps))


def cmake_links(root):
    problems = []
    target_dir = {t: d for d, (t, _) in LAYERS.items()}
    for d, (target, allowed) in LAYERS.items():
        path = os.path.join(root, "lib", d, "CMakeLists.txt")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as fh:
            text = re.sub(r"#.*", "", fh.read())
        rel = os.path.relpath(path, root)
        if d != "hubspot" and "PkgConfig::CURL" in text:
            problems.append("%s: links libcurl outside lib/hubspot" % rel)
        for m in LINK_RE.finditer(text):
            words = m.group(1).split()
            if not words or words[0] != target:
                continue
            for w in words[1:]:
                if w in target_dir and target_dir[w] not in allowed:
                    problems.append("%s: %s may not link %s"
                                    % (rel, target, w))
    return problems


def write(root, files):
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)


def self_test():
    """Each fault planted in a small tree must be reported; a clean tree
    must pass."""
    clean = {
        "lib/core/ls_a.h": "",
        "lib/core/ls_a.c": '#include "ls_a.h"\n',
        "lib/model/ls_m.h": '#include "ls_a.h"\n',
        "lib/model/ls_m.c": '#include "ls_m.h"\n',
        "lib/hubspot/hs_x.c": '#include <curl/curl.h>\n#include "ls_m.h"\n',
        "lib/core/CMakeLists.txt": "target_link_libraries(ls_core PUBLIC x)\n",
        "lib/model/CMakeLists.txt":
            "target_link_libraries(ls_model PUBLIC ls_core)\n",
        "ingress/w_a.c": '#include "w_b.h"\n#include "ls_m.h"\n',
        "ingress/w_b.h": "",
    }
    faults = {
        "cycle in lib": ({"lib/model/ls_n.h": "",
                          "lib/model/ls_n.c": '#include "ls_m.h"\n',
                          "lib/model/ls_m.c":
                              '#include "ls_m.h"\n#include "ls_n.h"\n'},
                         "include cycle: lib/model/ls_m -> lib/model/ls_n"),
        "cycle in a binary": ({"ingress/w_b.c": '#include "w_a.h"\n',
                               "ingress/w_a.h": ""},
                              "include cycle: ingress/w_a -> ingress/w_b"),
        "layer upward": ({"lib/core/ls_a.c": '#include "ls_m.h"\n'},
                         "layer core may not use layer model"),
        "layer sideways": ({"lib/kafka/kq.c": '#include "hs_x.h"\n',
                            "lib/hubspot/hs_x.h": ""},
                           "layer kafka may not use layer hubspot"),
        "lib sees a binary": ({"lib/model/ls_m.c": '#include "w_b.h"\n'},
                              "outside lib/"),
        "curl outside hubspot": ({"lib/model/ls_m.c":
                                  "#include <curl/curl.h>\n"},
                                 "includes curl/ outside lib/hubspot"),
        "cmake link upward": ({"lib/core/CMakeLists.txt":
                               "target_link_libraries(ls_core PUBLIC ls_model)\n"},
                              "ls_core may not link ls_model"),
        "cmake curl": ({"lib/model/CMakeLists.txt":
                        "target_link_libraries(ls_model PkgConfig::CURL)\n"},
                       "links libcurl outside lib/hubspot"),
        "unknown layer": ({"lib/misc/ls_z.c": ""}, "not a known layer"),
        "private part used": ({"lib/model/ls_evid.h": "",
                               "lib/model/ls_event.h": "",
                               "lib/model/ls_m.c": '#include "ls_evid.h"\n'},
                              "lib/model/ls_evid.h is private to "
                              "lib/model/ls_event"),
    }
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "clean"), clean)
        got = check(os.path.join(tmp, "clean"))
        if got:
            print("self-test: clean tree reported %r" % got)
            failed += 1
        for i, (name, (extra, want)) in enumerate(sorted(faults.items())):
            root = os.path.join(tmp, "f%d" % i)
            write(root, clean)
            write(root, extra)
            got = check(root)
            if not any(want in p for p in got):
                print("self-test: %s: wanted %r, got %r" % (name, want, got))
                failed += 1
    print("self-test: %d problem(s) over %d planted faults and a clean tree"
          % (failed, len(faults)))
    return failed == 0


def main(argv):
    args = [a for a in argv[1:] if a != "--self-test"]
    if "--self-test" in argv[1:] and not self_test():
        return 1
    root = args[0] if args else os.environ.get(
        "LS_SOURCE_DIR",
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    notes = []
    problems = check(os.path.abspath(root), notes)
    for n in notes:
        print(n)
    for p in problems:
        print(p)
    if problems:
        print("check_layers: %d problem(s)" % len(problems))
        return 1
    print("check_layers: no include cycles (outside PENDING folders), every "
          "lib/ include and link goes down the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
