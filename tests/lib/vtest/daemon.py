"""Run the vitaled under test: a config in a scratch directory, its stderr
captured to a file, helpers to wait for log lines, signal it and stop it."""
import os
import re
import signal
import subprocess
import tempfile
import time


from .paths import builddir, srcdir  # noqa: F401 - re-exported for tests
from .proc import sanitizer_report


def vitaled_path():
    return os.path.join(builddir(), "daemon", "vitaled")


def vitalectl_path():
    return os.path.join(builddir(), "tools", "vitalectl")


class Daemon:
    """vitaled with its own config, state dir and log.

    conf: text of vitaled.conf (StateDirectory is added if missing).
    env: extra environment (DBUS_SYSTEM_BUS_ADDRESS, PCSCLITE_CSOCK_NAME...).
    """

    def __init__(self, conf="", env=None, args=(), workdir=None, session=False,
                 wrapper=(), state_in_conf=True):
        self.dir = workdir or tempfile.mkdtemp(prefix="vitaled-test-")
        self.state = os.path.join(self.dir, "state")
        os.makedirs(self.state, exist_ok=True)
        self.conf_path = os.path.join(self.dir, "vitaled.conf")
        self.log_path = os.path.join(self.dir, "vitaled.log")
        self.state_in_conf = state_in_conf
        self.write_conf(conf)
        self.env = dict(os.environ)
        self.env.pop("JOURNAL_STREAM", None)
        self.env.update(env or {})
        self.args = list(args)
        self.session = session
        self.wrapper = list(wrapper)
        self.proc = None
        self._log = None

    def write_conf(self, conf):
        if "StateDirectory" not in conf and self.state_in_conf:
            if "[General]" in conf:
                conf = conf.replace("[General]", "[General]\nStateDirectory = %s" % self.state, 1)
            else:
                conf = "[General]\nStateDirectory = %s\n" % self.state + conf
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def command(self):
        cmd = self.wrapper + [vitaled_path(), "--config", self.conf_path, "--debug"]
        if self.session:
            cmd.append("--session")
        return cmd + self.args

    def start(self, wait_ready=True, timeout=30):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait_ready:
            self.wait_log(r"vitaled .* ready", timeout)
        return self

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=30, start=0):
        """Wait for a log line matching pattern (after byte offset start)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while time.monotonic() < deadline:
            text = self.log()[start:]
            m = rx.search(text)
            if m:
                return m
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError("vitaled exited (%s) before logging %r:\n%s"
                                   % (self.proc.returncode, pattern, text[-3000:]))
            time.sleep(0.05)
        raise TimeoutError("no log line %r within %ss:\n%s"
                           % (pattern, timeout, self.log()[-3000:]))

    def log_size(self):
        return len(self.log())

    def signal(self, signo):
        self.proc.send_signal(signo)

    def stop(self, timeout=20):
        """SIGTERM, wait; returns the exit status (kills after timeout)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            if self._log:
                self._log.close()

    def stop_checked(self, t):
        """stop(), as one test point: exit status 0, no sanitizer report."""
        status = self.stop()
        report = sanitizer_report(self.log())
        t.ok(status == 0 and not report,
             "the daemon stops cleanly (exit %s), no sanitizer report" % status, report)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class SessionBus:
    """A private session bus (dbus-daemon --session) for daemon-core tests."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.address = self.proc.stdout.readline().decode().strip()

    def env(self):
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def close(self):
        self.proc.terminate()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def thread_switches(pid):
    """Voluntary + involuntary context switches of each thread of pid,
    keyed "comm/tid"."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = "%s/%s" % (f.read().strip(), tid)
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                out[name] = sum(int(line.split()[1]) for line in f
                                if line.startswith(("voluntary_ctxt_switches",
                                                    "nonvoluntary_ctxt_switches")))
        except FileNotFoundError:
            pass
    return out


def threads_woken(pid, seconds):
    """Sleep seconds; the threads of pid that woke meanwhile, with how often."""
    before = thread_switches(pid)
    time.sleep(seconds)
    after = thread_switches(pid)
    return {n: after[n] - before.get(n, 0) for n in after if after[n] != before.get(n, 0)}


def context_switches(pid):
    """Voluntary + involuntary context switches of every thread of pid."""
    return sum(thread_switches(pid).values())
