"""docs/ARCHITECTURE.md stays true, and no code comment points outside the
repository.

  - every file or folder the page names in backquotes exists (a bare file
    name is looked up under the folder its section or table row is about);
  - every function it names (a backquoted `name` of C identifier shape with
    an underscore, outside the library diagram) is defined in a .c file;
  - every library in its diagram is a CMake target of the build;
  - README.md links the page;
  - no tracked source file (C, Python, shell, CMake, YAML) mentions
    ../shared, REFERENCE.md, DESIGN.md or STYLE.md: those live outside the
    repository.
"""
import glob
import os
import re
import subprocess

from harness import SOURCE, Checks

DOC = os.path.join(SOURCE, "docs", "ARCHITECTURE.md")
FOLDERS = ("lib/core", "lib/model", "lib/kafka", "lib/hubspot", "lib",
           "ingress", "worker", "filter", "fanout", "assurance", "console",
           "cli", "dev", "bench", "scripts", "cmake", "deploy/docker")


def tracked(*patterns):
    top = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True, timeout=30)
    out = subprocess.run(["git", "-C", SOURCE, "ls-files", *patterns],
                         capture_output=True, text=True, timeout=30)
    if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != \
            os.path.realpath(SOURCE):  # not its own checkout: walk the tree
        found = []
        for d, dirs, names in os.walk(SOURCE):
            dirs[:] = [x for x in dirs if not x.startswith((".", "build"))]
            for n in names:
                rel = os.path.relpath(os.path.join(d, n), SOURCE)
                if any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"),
                                    rel) for p in patterns):
                    found.append(rel)
        return found
    return out.stdout.split()


def c_definitions():
    names = set()
    for f in tracked("*.c"):
        with open(os.path.join(SOURCE, f), errors="replace") as fh:
            for m in re.finditer(r"^[A-Za-z_][\w \*]*?\b(\w+)\(", fh.read(),
                                 re.M):
                names.add(m.group(1))
    return names


def cmake_targets():
    names = set()
    for f in tracked("*CMakeLists.txt", "*.cmake"):
        with open(os.path.join(SOURCE, f)) as fh:
            names |= set(re.findall(r"add_(?:library|executable)\((\S+)",
                                    fh.read()))
    return names


def path_exists(name, context):
    """name (a path, a folder, or a glob such as cmd_*.c or ls_filter.*)
    relative to the root or to one of the context folders."""
    name = name.rstrip("/")
    for base in [""] + context:
        if glob.glob(os.path.join(SOURCE, base, name)):
            return True
    return False


c = Checks("architecture_doc")
with open(DOC) as f:
    text = f.read()

# The diagram: libraries that must be CMake targets.
diagram = re.search(r"```\n(.*?)```", text, re.S)
c.true(diagram, "the page has a library diagram")
targets = cmake_targets()
if diagram:
    libs = set(re.findall(r"\b(ls_\w+|\w+_core|leadsync_cli|dev_common)\b",
                          diagram.group(1)))
    c.true(len(libs) >= 8, "libraries named in the diagram", str(libs))
    for lib in sorted(libs):
        c.true(lib in targets, f"diagram library {lib} is a CMake target")
    prose = text.replace(diagram.group(0), "")
else:
    prose = text

defs = c_definitions()
paths = functions = 0
context = list(FOLDERS)
for line in prose.splitlines():
    # A section or table row about a folder looks there first.
    for m in re.finditer(r"`((?:lib/)?[a-z]+/)`", line):
        context.insert(0, m.group(1).rstrip("/"))
    for word in re.findall(r"`([^`\s]+)`", line):
        if re.search(r"\.(c|h|md|sh|cmake|json|txt)$|/$|\.\*$", word) or \
                ("/" in word and not word.startswith(("http", "smartlead.",
                                                      "leadsync."))):
            if word.startswith(("build/", "share/", "make ", ".")) or \
                    "<" in word:
                continue
            paths += 1
            c.true(path_exists(word, context), f"path {word} exists")
        elif re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", word) and \
                not word.startswith(("ls_", "leadsync", "dev_common")) or \
                re.fullmatch(r"(wrk|ing|fl|hs|kq|cli)_[a-z0-9_]+", word):
            if word in targets or word in ("secret_key", "sync_log",
                                           "wrk_plan", "portal_share"):
                continue
            if path_exists(word + ".c", context):  # a module: kq_client
                continue
            functions += 1
            c.true(word in defs, f"function {word} is defined in a .c file")
c.true(paths >= 20, "paths checked", str(paths))
c.true(functions >= 8, "functions checked", str(functions))

with open(os.path.join(SOURCE, "README.md")) as f:
    c.true("docs/ARCHITECTURE.md" in f.read(), "README.md links the page")

outside = re.compile(r"\.\./shared|REFERENCE\.md|DESIGN\.md|STYLE\.md")
offenders = []
for f in tracked("*.c", "*.h", "*.py", "*.sh", "*CMakeLists.txt", "*.cmake",
                 "*.yaml", "*.yml", "Makefile", "Dockerfile"):
    if f.startswith("tests/scripts/test_architecture_doc.py"):
        continue
    with open(os.path.join(SOURCE, f), errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if outside.search(line):
                offenders.append(f"{f}:{n}")
c.eq(offenders, [], "source lines pointing at documents outside the "
     "repository")
c.done()
