#!/usr/bin/python3
"""Fault injection during reads, against the real parts.

- pcscd killed in the middle of a read, then started again: the read ends
  without publishing anything, the daemon says pcscd went away and came
  back, and the next card reads afresh.
- the emulator killed in the middle of an APDU (it is answering slowly)
  while the other reader reads a card: the broken read ends without data,
  the other read is verified, the next card in the same reader is verified.
- the bus daemon goes away: vitaled says so and exits with a failure status
  (1) so that systemd (Restart=on-failure, systemd/vitaled.service) starts
  it again; a new vitaled on a new bus serves again.  Under a sanitizer
  build the exit is checked for reports, leaks included.
- the state directory read-only (a read-only bind mount) or full (a 64 KiB
  tmpfs, filled up), at start and after start, in a private mount
  namespace of the daemon: tokens are refused (read-failed) and the log
  says why; once the directory is writable again tokens are accepted.
- clock jumps (libfaketime, package faketime, on the daemon's time(); its
  monotonic clock stays real): tokens made for the faked time are verified,
  after a jump forward the same kind of token made for the old time is
  expired, after a jump backward a token from the "future" is not yet
  valid, and a token already accepted stays refused as a replay after the
  clock goes back.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, HarnessUnavailable  # noqa: E402
from vtest.soak import Scanner, tokens  # noqa: E402
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr  # noqa: E402

SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
# Fills the 64 KiB tmpfs on $S, and nothing else: bounded, and only on a mount point.
FILL = ("mountpoint -q \"$S\" && { dd if=/dev/zero of=\"$S/filler\" bs=4k count=32 "
        "2>/dev/null || true; }; test -f \"$S/filler\"")
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def outcome(rig, serial, start, timeout=60):
    """'abandoned' or the verdict of read serial."""
    m = rig.wait(r"card %d(?:: [\w-]+, ([\w-]+) \(| removed before the read finished)" % serial,
                 start, timeout)
    return m.group(1) or "abandoned"


def clean_exit(t, d, what):
    t.ok(SANITIZER.search(d.log()) is None, "%s: no sanitizer report at exit" % what,
         d.log()[-3000:])


# -- pcscd and the emulator ---------------------------------------------------

def test_pcscd_killed(t, rig):
    at = rig.mark()
    rig.pcsc.insert(0, profile="card", args=("--delay", "0.3"))
    serial = rig.inserted(0, at)
    rig.pcsc.kill_pcscd()
    got = outcome(rig, serial, at)
    t.ok(got in ("read-failed", "abandoned"),
         "pcscd killed mid-read: the read ends without data (%s)" % got)
    rig.wait(r"pcscd is not reachable", at)
    t.ok(True, "the daemon says pcscd is not reachable")
    at = rig.mark()
    rig.pcsc.start_pcscd()
    rig.wait(r"pcsc: pcscd is reachable", at)
    t.ok(True, "pcscd back: the daemon says it reaches pcscd again")
    at = rig.mark()
    rig.pcsc.insert(0, profile="card")
    t.eq(rig.verdict(0, at)["status"], "verified", "the next card reads afresh: verified")
    rig.pcsc.remove(0)


def test_emulator_killed(t, rig):
    at = rig.mark()
    # The card answers each APDU after 1 s: killed while it is answering.
    rig.pcsc.insert(0, profile="card", args=("--delay", "1"))
    serial = rig.inserted(0, at)
    rig.pcsc.insert(1, profile="card")
    time.sleep(0.5)  # inside the first APDU's answer delay (not a timing assert)
    rig.pcsc.remove(0)
    got = outcome(rig, serial, at)
    t.ok(got in ("read-failed", "abandoned"),
         "emulator killed mid-APDU: the read ends without data (%s)" % got)
    t.eq(rig.verdict(1, at)["status"], "verified", "the other reader's card is verified meanwhile")
    rig.pcsc.remove(1)
    at = rig.mark()
    rig.pcsc.insert(0, profile="card")
    t.eq(rig.verdict(0, at)["status"], "verified", "the next card in that reader is verified")
    rig.pcsc.remove(0)


# -- the bus ---------------------------------------------------------------------

def test_bus_gone(t, rig):
    d = rig.daemon
    at = rig.mark()
    rig.bus.proc.kill()
    rig.bus.proc.wait()
    try:
        status = d.proc.wait(60)
    except subprocess.TimeoutExpired:
        status = None
    t.eq(status, 1, "bus daemon gone: vitaled exits with status 1 (systemd restarts it)")
    t.ok(re.search(r"lost the connection to the bus", d.log()[at:]),
         "and says it lost the connection to the bus")
    clean_exit(t, d, "after losing the bus")
    rig.bus = vdaemon.SessionBus()
    rig.start_vitaled()
    at = rig.mark()
    rig.pcsc.insert(0, profile="card")
    t.eq(rig.verdict(0, at)["status"], "verified", "a new vitaled on a new bus reads cards")
    rig.pcsc.remove(0)


# -- the state directory -----------------------------------------------------------

class NsDaemon:
    """vitaled with a serial scanner, in its own mount namespace, so its
    state directory can be remounted (read-only, a full tmpfs) from outside
    with nsenter."""

    SETUP = {
        "rw": "true",
        "ro": "mount --bind \"$S\" \"$S\" && mount -o remount,bind,ro \"$S\"",
        "full": "mount -t tmpfs -o size=64k,mode=0700 vd-full \"$S\" && "
                "%s" % FILL,
        "small": "mount -t tmpfs -o size=64k,mode=0700 vd-small \"$S\"",
    }

    def __init__(self, setup, env):
        self.tmp = tempfile.mkdtemp(prefix="vitaled-faults-")
        self.scanner_path = os.path.join(self.tmp, "scanner0")
        self.rid = "serial-" + self.scanner_path
        conf = qr.daemon_conf("serial", "Devices = %s/scanner*" % self.tmp)
        conf += "\n[Tokens]\nDuplicateWindow = 0\n"
        script = "set -e; S=\"$1\"; shift; %s; exec \"$@\"" % self.SETUP[setup]
        self.d = vdaemon.Daemon(conf, env=env, session=True)
        self.d.wrapper = ["unshare", "--mount", "--propagation", "private",
                          "sh", "-c", script, "sh", self.d.state]
        self.sc = None

    def start(self):
        self.d.start()
        self.sc = Scanner(self.scanner_path)
        self.d.wait_log(r"reader %s: added" % re.escape(self.rid))
        return self

    def ns(self, script):
        """Run script in the daemon's mount namespace; $S is the state dir."""
        return subprocess.run(["nsenter", "--target", str(self.d.proc.pid), "--mount", "--",
                               "sh", "-c", "set -eu; S=\"$1\"; " + script, "sh", self.d.state],
                              capture_output=True, text=True, timeout=60)

    def scan(self, text):
        pos = self.d.log_size()
        self.sc.scan(text)
        m = self.d.wait_log(r"reader %s: card \d+: phone-qr, ([\w-]+) \((.*)\)"
                            % re.escape(self.rid), 30, pos)
        return m.group(1), m.group(2)

    def stop(self):
        if self.sc:
            self.sc.unplug()
        status = self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return status


def test_state_readonly_at_start(t, env):
    nd = NsDaemon("ro", env).start()
    try:
        t.ok(re.search(r"replay cache: cannot open .*QR tokens will be refused", nd.d.log()),
             "read-only state dir at start: the log says tokens will be refused")
        v, why = nd.scan(next(tokens(1)))
        t.eq(v, "read-failed", "a valid token is refused (read-failed): %s" % why)
        t.ok("replay cache" in why, "the verdict names the replay cache")
    finally:
        status = nd.stop()
    t.eq(status, 0, "the daemon still exits cleanly")
    clean_exit(t, nd.d, "read-only state dir")


def test_state_fails_later(t, env, setup, breaker, fixer, what):
    """Cache opened fine; then the directory breaks (breaker), tokens are
    refused; fixed (fixer), tokens are accepted again."""
    nd = NsDaemon(setup, env).start()
    try:
        toks = tokens(3)
        v, _ = nd.scan(next(toks))
        t.eq(v, "verified", "%s: a token is verified while the cache can be written" % what)
        r = nd.ns(breaker)
        t.eq(r.returncode, 0, "%s: broken from outside (%s)" % (what, r.stderr.strip()))
        refused = next(toks)
        v, why = nd.scan(refused)
        t.eq(v, "read-failed", "%s: a valid token is refused, fail-safe: %s" % (what, why))
        t.ok("replay cache cannot be written" in why, "%s: the verdict says why" % what)
        r = nd.ns(fixer)
        t.eq(r.returncode, 0, "%s: repaired (%s)" % (what, r.stderr.strip()))
        v, _ = nd.scan(refused)
        t.eq(v, "verified", "%s: the refused token was not remembered: verified now" % what)
        v, _ = nd.scan(refused)
        t.eq(v, "replayed", "%s: and remembered from then on (replayed)" % what)
    finally:
        status = nd.stop()
    t.eq(status, 0, "%s: the daemon exits cleanly" % what)
    clean_exit(t, nd.d, what)


def test_state_full_at_start(t, env):
    nd = NsDaemon("full", env).start()
    try:
        v, why = nd.scan(next(tokens(1)))
        t.eq(v, "read-failed", "full state dir at start: a valid token is refused: %s" % why)
        t.ok(re.search(r"replay cache", nd.d.log()), "and the log names the replay cache")
    finally:
        status = nd.stop()
    t.eq(status, 0, "full state dir: the daemon exits cleanly")
    clean_exit(t, nd.d, "full state dir")


# -- the clock -------------------------------------------------------------------------

def test_clock_jumps(t, env):
    if not os.path.exists(FAKETIME_LIB):
        t.skip("clock jumps", "libfaketime not installed (Debian package faketime)")
        return
    tmp = tempfile.mkdtemp(prefix="vitaled-clock-")
    clock = os.path.join(tmp, "clock")
    t0 = 1893456000  # 2030-01-01, far from the real clock

    def set_clock(when):
        with open(clock + ".new", "w") as f:
            f.write("@%s\n" % time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)))
        os.rename(clock + ".new", clock)

    set_clock(t0)
    env = dict(env, LD_PRELOAD=FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE=clock,
               FAKETIME_NO_CACHE="1", DONT_FAKE_MONOTONIC="1", TZ="UTC",
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    nd = NsDaemon("rw", env)
    try:
        nd.start()
        first = next(tokens(1, now=t0))
        v, why = nd.scan(first)
        t.eq(v, "verified", "a token made for the faked time is verified: %s" % why)
        set_clock(t0 + 86400)
        v, why = nd.scan(next(tokens(1, now=t0)))
        t.eq(v, "expired", "clock jumps a day forward: a token made for the old time is "
             "expired: %s" % why)
        v, _ = nd.scan(next(tokens(1, now=t0 + 86400)))
        t.eq(v, "verified", "a token made for the new time is verified")
        set_clock(t0 - 3600)
        v, why = nd.scan(next(tokens(1, now=t0)))
        t.eq(v, "not-yet-valid", "clock jumps back an hour: a token from the 'future' is not "
             "yet valid: %s" % why)
        set_clock(t0 + 5)
        v, why = nd.scan(first)
        # The jump forward made the cache forget the first token's id; its
        # horizon keeps the token refused when the clock comes back.
        t.eq(v, "replayed", "back at the first token's time: it is still refused as a "
             "replay (%s)" % why)
    finally:
        status = nd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    t.eq(status, 0, "the daemon under libfaketime exits cleanly")


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    if os.geteuid() != 0:
        t.skip("fault injection", "needs root (namespaces, mounts)")
        t.done()
    # Optional arguments name the groups to run (state, clock, pcsc).
    want = set(sys.argv[1:]) or {"state", "clock", "pcsc"}
    bus = vdaemon.SessionBus()
    try:
        env = bus.env()
        if "state" in want:
            t.run(test_state_readonly_at_start, env)
            t.run(test_state_fails_later, env, "small", FILL, "rm -f \"$S/filler\"",
                  "state dir full")
            t.run(test_state_fails_later, env, "rw",
                  "mount --bind \"$S\" \"$S\" && mount -o remount,bind,ro \"$S\"",
                  "umount \"$S\"", "state dir read-only")
            t.run(test_state_full_at_start, env)
        if "clock" in want:
            t.run(test_clock_jumps, env)
    finally:
        bus.close()
    if "pcsc" in want:
        try:
            with Rig() as rig:
                t.run(test_pcscd_killed, rig)
                t.run(test_emulator_killed, rig)
                t.run(test_bus_gone, rig)
        except HarnessUnavailable as e:
            t.skip("pcscd faults", "no private pcscd here: %s" % e)
    t.done()


if __name__ == "__main__":
    main()
