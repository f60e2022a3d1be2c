"""cmake --install: the installed tree holds what the container image needs.

Installs the test build into a temporary prefix (as deploy/docker/Dockerfile
does into /out/usr) and checks:
  - every program a Kubernetes manifest runs is in bin/, answers --version
    with its name, and nothing for development (dev broker, emulators, bench
    tools) is installed;
  - share/leadsync/schemas, share/leadsync/console and share/leadsync/config
    hold the source tree's schemas, console UI and dev config, byte for byte;
  - the installed CLI checks the installed config against the installed
    schemas (LEADSYNC_SCHEMA_DIR, as the image sets it);
  - every shared library an installed program needs comes from a Debian
    package the Dockerfile's runtime stage installs (or from libc6).
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

from harness import BUILD, SOURCE, Checks

DEV_ONLY = ("leadsync-devbroker", "hubspot-emulator", "smartlead-emulator")
# Always in debian:12-slim.
BASE_PACKAGES = {"libc6", "libgcc-s1"}


def deployed_programs():
    """The leadsync programs the Kubernetes manifests run."""
    progs = set()
    for path in glob.glob(os.path.join(SOURCE, "deploy", "k8s", "**", "*.yaml"),
                          recursive=True):
        with open(path) as f:
            for m in re.finditer(r'command:\s*\["(leadsync[\w-]*)"', f.read()):
                progs.add(m.group(1))
    return progs


def runtime_packages():
    """Packages apt-get installs in the Dockerfile's last stage."""
    with open(os.path.join(SOURCE, "deploy", "docker", "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    pkgs = set()
    for m in re.finditer(r"apt-get install ([^&\n]*)", final):
        pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pkgs


def same_tree(c, src, dst, what, pattern="*"):
    files = [os.path.relpath(p, src) for p in
             glob.glob(os.path.join(src, "**", pattern), recursive=True)
             if os.path.isfile(p)]
    c.true(files, f"{what}: source files found", src)
    missing = [f for f in files if not os.path.isfile(os.path.join(dst, f))]
    c.eq(missing, [], f"{what}: files missing from the installed tree")
    differ = []
    for f in files:
        d = os.path.join(dst, f)
        if os.path.isfile(d):
            with open(os.path.join(src, f), "rb") as a, open(d, "rb") as b:
                if a.read() != b.read():
                    differ.append(f)
    c.eq(differ, [], f"{what}: installed files that differ from the source")


def direct_packages(binary):
    """Packages of the libraries binary itself names (DT_NEEDED)."""
    out = subprocess.run(["readelf", "-d", binary], capture_output=True,
                         text=True, timeout=30).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", out))
    pkgs, all_pkgs = set(), {}
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True,
                         timeout=30).stdout
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m and m.group(1) in needed:
            all_pkgs[m.group(1)] = os.path.realpath(m.group(2))
    for soname, path in all_pkgs.items():
        for p in (path, path.replace("/usr/lib/", "/lib/", 1)):
            r = subprocess.run(["dpkg", "-S", p], capture_output=True,
                               text=True, timeout=30)
            if r.returncode == 0:
                pkgs.add(r.stdout.split(":")[0])
                break
        else:
            pkgs.add("?" + soname)
    return pkgs


c = Checks("install_tree")
with tempfile.TemporaryDirectory(prefix="ls-install-") as prefix:
    r = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix],
                       capture_output=True, text=True, timeout=120)
    c.eq(r.returncode, 0, "cmake --install exit status")
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:], flush=True)

    bindir = os.path.join(prefix, "bin")
    installed = sorted(os.listdir(bindir)) if os.path.isdir(bindir) else []
    progs = deployed_programs()
    c.true(len(progs) >= 5, "programs found in deploy/k8s", str(progs))
    for p in sorted(progs | {"leadsync"}):
        c.true(p in installed, f"bin/{p} installed", str(installed))
    for p in installed:
        c.true(p not in DEV_ONLY and not p.startswith("bench-"),
               f"bin/{p} is not a development tool")

    share = os.path.join(prefix, "share", "leadsync")
    same_tree(c, os.path.join(SOURCE, "schemas"),
              os.path.join(share, "schemas"), "schemas", "*.json")
    same_tree(c, os.path.join(SOURCE, "console", "www"),
              os.path.join(share, "console"), "console UI")
    same_tree(c, os.path.join(SOURCE, "config"),
              os.path.join(share, "config"), "config", "dev.json")

    env = dict(os.environ, LEADSYNC_SCHEMA_DIR=os.path.join(share, "schemas"),
               LEADSYNC_CONSOLE_WWW=os.path.join(share, "console"))
    env.pop("LEADSYNC_CONFIG", None)
    for p in installed:
        exe = os.path.join(bindir, p)
        c.true(os.access(exe, os.X_OK), f"bin/{p} is executable")
        v = subprocess.run([exe, "--version"], capture_output=True, text=True,
                           env=env, timeout=30)
        c.true(v.returncode == 0 and v.stdout.startswith(p + " "),
               f"bin/{p} --version", repr(v.stdout[:200] + v.stderr[:200]))

    cli = os.path.join(bindir, "leadsync")
    if os.path.exists(cli):
        # The dev config names its secrets by environment variable.
        cenv = dict(env, HUBSPOT_TOKEN="pat-na1-install-test",
                    SMARTLEAD_API_KEY="sl-install-test")
        check = [cli, "config", "check", "--config",
                 os.path.join(share, "config", "dev.json")]
        chk = subprocess.run(check, capture_output=True, text=True, env=cenv,
                             timeout=60)
        c.eq(chk.returncode, 0, "installed leadsync config check of the "
             "installed dev config")
        if chk.returncode != 0:
            print(chk.stdout[-1500:], chk.stderr[-1500:], flush=True)
        # ... and it is the installed schema directory that made it pass.
        cenv["LEADSYNC_SCHEMA_DIR"] = os.path.join(prefix, "no-schemas")
        chk = subprocess.run(check, capture_output=True, text=True, env=cenv,
                             timeout=60)
        c.true(chk.returncode != 0 and "config.schema.json" in chk.stdout
               + chk.stderr, "config check fails without the schemas",
               chk.stdout[-300:])

    if shutil.which("dpkg") and shutil.which("readelf"):
        runtime = runtime_packages() | BASE_PACKAGES
        c.true("librdkafka1" in runtime, "Dockerfile runtime packages parsed",
               str(runtime))
        for p in installed:
            # Sanitizer runtimes (the test build) are not in the image build.
            need = {n for n in direct_packages(os.path.join(bindir, p))
                    if not n.startswith(("libasan", "libubsan", "?libasan",
                                         "?libubsan"))}
            c.eq(sorted(need - runtime), [],
                 f"bin/{p}: libraries from packages the image does not "
                 "install")
    else:
        print("SKIP runtime packages: dpkg or readelf not found", flush=True)
c.done()
