"""What every harness piece does with the processes it starts.

    from vtest.proc import pdeathsig, on_exit, kill, Service, wait_for, rss_kib, \
        sanitizer_report

    p = subprocess.Popen(argv, preexec_fn=pdeathsig)  # dies with the test, own group
    old = on_exit(self.stop)    # stop() at exit and on SIGTERM; restore old after
    kill(p)                     # SIGKILL (its group too), reap, close its pipes
    class Thing(Service): ...   # start()/stop(): `with Thing() as x`, stopped
                                # even when start() fails half-way
    wait_for(pred, timeout=30, step=0.05)  # pred()'s first true value, or None
    rss_kib(pid)                # resident memory now
    sanitizer_report(log)       # ASan/LSan/UBSan lines of a log (at most 20)
"""
import atexit
import ctypes
import os
import signal
import subprocess
import sys
import time


def pdeathsig():
    """preexec_fn: die with the test process even when it is SIGKILLed, and
    lead a process group of one's own (so a kill takes the children too)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setsid()


def on_exit(stop):
    """Run stop at exit, and turn SIGTERM (a test timeout) into an exit so it
    runs then too.  Returns the SIGTERM handler to put back, or None."""
    atexit.register(stop)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        return signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return None


def kill(proc):
    """SIGKILL proc, and its process group when it leads one (pdeathsig),
    reap it and close its pipes; safe on a process already gone."""
    if proc.poll() is None:
        try:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f:
            f.close()


class Service:
    """A harness piece with start() and stop() (stop safe to call more than
    once) as a context manager: what start() got going before it failed is
    stopped too."""

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def command(p, line, who):
    """One line to a helper process's stdin; it must answer "ok"."""
    p.stdin.write((line + "\n").encode())
    p.stdin.flush()
    answer = p.stdout.readline().decode().strip()
    if answer != "ok":
        raise RuntimeError("%s: %s: %r" % (who, line, answer))


def wait_for(pred, timeout=30, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sanitizer_report(log):
    return [x for x in log.splitlines()
            if "Sanitizer" in x or "runtime error:" in x][:20]
