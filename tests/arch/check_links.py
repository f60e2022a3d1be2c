#!/usr/bin/env python3
"""Each binary links only what it uses: `ldd` of the built binaries must not
show the shared libraries listed as forbidden for them below (libcurl comes
only with lib/hubspot, libmicrohttpd only with an HTTP server, librdkafka
only with Kafka). Prints the libcurl / libmicrohttpd / librdkafka column of
every binary in the build directory ($LS_BUILD_DIR) as it goes."""
import os
import subprocess
import sys

WATCHED = ("libcurl", "libmicrohttpd", "librdkafka")
FORBIDDEN = {
    "leadsync-ingress": {"libcurl"},
    "leadsync-devbroker": {"libcurl", "libmicrohttpd"},
    "hubspot-emulator": {"libcurl", "librdkafka"},
    "bench-bare-server": {"libcurl", "librdkafka"},
    "bench-forwarder": {"libcurl"},
    "bench-kafka-produce": {"libcurl", "libmicrohttpd"},
}


def linked(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True,
                         check=True).stdout
    return {lib for lib in WATCHED
            if any(line.strip().startswith(lib) for line in out.splitlines())}


def main():
    build = os.environ.get("LS_BUILD_DIR", "build")
    names = sorted(f for f in os.listdir(build)
                   if (f.startswith(("leadsync", "bench-"))
                       or f.endswith("-emulator"))
                   and os.access(os.path.join(build, f), os.X_OK)
                   and os.path.isfile(os.path.join(build, f)))
    problems = []
    for name in sorted(FORBIDDEN):
        if name not in names:
            problems.append("%s: not built in %s" % (name, build))
    for name in names:
        libs = linked(os.path.join(build, name))
        print("%-24s %s" % (name, " ".join(
            lib if lib in libs else "-" * len(lib) for lib in WATCHED)))
        bad = libs & FORBIDDEN.get(name, set())
        if bad:
            problems.append("%s links %s" % (name, ", ".join(sorted(bad))))
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
