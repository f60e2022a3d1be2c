"""Every binary the build defines answers --version with "NAME VERSION ..."
(the CMake project version, then the git commit), exits 0 and prints
nothing on stderr. The list of binaries comes from the add_executable()
calls outside tests/, so a binary added later is covered without editing
this file."""
import glob
import os
import re
import subprocess
import sys

from harness import BUILD, SOURCE, Checks


def project_version():
    text = open(os.path.join(SOURCE, "CMakeLists.txt")).read()
    return re.search(r"project\(leadsync VERSION ([0-9.]+)", text).group(1)


def product_binaries():
    names = set()
    for path in glob.glob(os.path.join(SOURCE, "**", "CMakeLists.txt"),
                          recursive=True):
        rel = os.path.relpath(path, SOURCE)
        if rel.startswith(("tests", "build")) or "/build" in rel:
            continue
        for m in re.finditer(r"add_executable\(\s*([A-Za-z0-9_.-]+)",
                             open(path).read()):
            names.add(m.group(1))
    return sorted(names)


def main():
    c = Checks("obs_version")
    version = project_version()
    bins = product_binaries()
    c.true(len(bins) >= 5, "found the product binaries", str(bins))
    for name in bins:
        exe = os.path.join(BUILD, name)
        if not c.true(os.access(exe, os.X_OK), f"{name} is built", exe):
            continue
        p = subprocess.run([exe, "--version"], capture_output=True, text=True,
                           timeout=20, env=dict(os.environ,
                                                ASAN_OPTIONS="detect_leaks=0"))
        c.eq(p.returncode, 0, f"{name} --version exit code")
        line = p.stdout.strip()
        c.true(re.fullmatch(rf"{re.escape(name)} {re.escape(version)} "
                            r"\(commit [0-9A-Za-z._-]+\)", line) is not None,
               f"{name} --version prints name, version and commit", repr(line))
        c.eq(p.stderr.strip(), "", f"{name} --version writes nothing to stderr")
    c.done()


if __name__ == "__main__":
    main()
