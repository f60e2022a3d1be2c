"""make run's stop: scripts/run.sh brings the whole stack up and, stopped
with Ctrl-C on its terminal or with SIGINT, stops every process it started
and exits 0.

Two runs, each with its own .run directory (LEADSYNC_RUN_DIR) and port 0
everywhere, so a developer's `make run` is left alone:
  - on a pseudo-terminal, with ^C typed on it (the terminal driver signals
    the foreground process group, as in `make run` + Ctrl-C);
  - without a terminal, with SIGINT sent to the script alone.
Every daemon of a run is found by its command line naming the run's
directory; after the stop none of them may be left, the script's status is
0, and it reports no process that had to be killed or exited non-zero.
"""
import os
import pty
import select
import signal
import subprocess
import tempfile
import time

from harness import BUILD, SOURCE, Checks, Failure, wait_for

RUN_SH = os.path.join(SOURCE, "scripts", "run.sh")
# devbroker, two emulators, ingress, four workers, filter, assurance, console
MIN_PROCESSES = 11


def env_for(run_dir):
    env = dict(os.environ)
    env.update(BUILD=os.path.abspath(BUILD), LEADSYNC_RUN_DIR=run_dir,
               LEADSYNC_DEMO="0", INGRESS_LISTEN="127.0.0.1:0",
               EMULATOR_LISTEN="127.0.0.1:0", CONSOLE_LISTEN="127.0.0.1:0",
               SMARTLEAD_LISTEN="127.0.0.1:0", ASSURANCE_LISTEN="127.0.0.1:0")
    for k in ("HUBSPOT_TOKEN", "HUBSPOT_BASE_URL", "LS_RUN_FOREGROUND"):
        env.pop(k, None)
    return env


def daemons_of(run_dir):
    """Pids of the processes whose command line names run_dir."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        exe = os.path.basename(argv[0].decode(errors="replace"))
        if exe in ("bash", "python3", "sh"):
            continue
        if any(run_dir.encode() in a for a in argv[1:]):
            found.append(int(pid))
    return found


def kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


class PtyRun:
    """run.sh on a pseudo-terminal; its output is read as it comes."""

    def __init__(self, env):
        self.out = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session leader on the pty
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execve(RUN_SH, [RUN_SH], env)

    def pump(self, timeout=0.2):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return False
            self.out += data
            return bool(data)
        return True

    def text(self):
        return self.out.decode(errors="replace")

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                while self.pump(0):
                    pass
                return os.waitstatus_to_exitcode(status)
        raise Failure("run.sh did not exit after Ctrl-C:\n" + self.text())


def check_stopped(c, how, status, output, run_dir, pids):
    c.eq(status, 0, f"{how}: run.sh exit status")
    c.true("make run: stopped" in output, f"{how}: run.sh says it stopped",
           output[-2000:])
    c.true("did not stop" not in output and "exited with status" not in output,
           f"{how}: every process stopped on SIGTERM with status 0",
           output[-2000:])
    left = [p for p in pids if os.path.exists(f"/proc/{p}")
            and p in daemons_of(run_dir)]
    c.eq(left, [], f"{how}: processes left running")
    ready = [f for f in os.listdir(run_dir) if f.endswith(".ready")]
    c.eq(ready, [], f"{how}: ready files left")


def run_on_pty(c, tmp):
    run_dir = os.path.join(tmp, "pty")
    r = PtyRun(env_for(run_dir))
    pids = []
    try:
        def up():
            if not r.pump():
                raise Failure("run.sh left the terminal before it was up")
            return "Press Ctrl-C to stop." in r.text()

        wait_for(up, timeout=180, what="the stack to come up on the terminal")
        pids = daemons_of(run_dir)
        c.true(len(pids) >= MIN_PROCESSES,
               f"pty: at least {MIN_PROCESSES} processes up", f"found {pids}")
        os.write(r.fd, b"\x03")  # Ctrl-C, as typed
        status = r.wait_exit(60)
        check_stopped(c, "pty", status, r.text(), run_dir, pids)
    except Failure:
        print(r.text()[-4000:], flush=True)
        raise
    finally:
        kill_all(daemons_of(run_dir))
        try:
            os.kill(r.pid, signal.SIGKILL)
            os.waitpid(r.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(r.fd)


def run_with_sigint(c, tmp):
    run_dir = os.path.join(tmp, "nopty")
    log = open(os.path.join(tmp, "nopty.out"), "w+")
    p = subprocess.Popen(
        [RUN_SH], env=env_for(run_dir), stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def output():
        log.seek(0)
        return log.read()

    try:
        wait_for(lambda: "Press Ctrl-C to stop." in output()
                 or p.poll() is not None, timeout=180,
                 what="the stack to come up")
        c.eq(p.poll(), None, "nopty: run.sh running")
        pids = daemons_of(run_dir)
        c.true(len(pids) >= MIN_PROCESSES,
               f"nopty: at least {MIN_PROCESSES} processes up", f"found {pids}")
        p.send_signal(signal.SIGINT)  # the script alone, not its group
        status = p.wait(timeout=60)
        check_stopped(c, "nopty", status, output(), run_dir, pids)
    except (Failure, subprocess.TimeoutExpired):
        print(output()[-4000:], flush=True)
        raise
    finally:
        kill_all(daemons_of(run_dir))
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


c = Checks("make_run")
with tempfile.TemporaryDirectory(prefix="ls-make-run-") as tmp:
    run_on_pty(c, tmp)
    run_with_sigint(c, tmp)
c.done()
