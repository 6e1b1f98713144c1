#!/usr/bin/python3
"""vitaled demo: the product's main job, end to end, on private services.

A private pcscd with two virtual readers, a private system-like D-Bus with
vitaled's policy, a demo PKI made now with openssl, vitaled itself (as its
own user) with the PC/SC and serial-scanner sources, and `vitalectl watch`
showing, live:

  1. a demo card inserted and verified; `vitalectl show` lists its family's
     rights (and refuses an outsider);
  2. a phone tapped on the contactless reader and verified;
  3. a QR code image from a phone, read by a serial scanner, verified;
  4. the same QR code presented again: refused as a replay;
  5. the card pulled: its data is gone;
  6. a forged card: refused.

It ends by itself and leaves nothing running (every process is torn down,
also on failure or Ctrl-C).  Exit status 0 when every step showed what it
should.

    run-demo.py [--builddir DIR]     (default: $top_builddir, else ./)
"""
import argparse
import os
import pwd
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty

SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from vtest import pki as vpki  # noqa: E402
from vtest.bus import SystemBus, BusUnavailable  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402

FAMILY = os.path.join(SRCDIR, "tools", "demo", "demo-family.json")
MKTOKEN = os.path.join(SRCDIR, "tests", "tokens", "mktoken.py")
PYTHON = "/usr/bin/python3"
STEP_TIMEOUT = 30


class DemoFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def banner(text):
    say()
    say("==> " + text)


class Watch:
    """`vitalectl watch` as a clinic user; its lines are shown as they come
    and kept so the demo can wait for the one it expects."""

    def __init__(self, bus, ctl):
        self.proc = bus.popen_as("member", [ctl, "watch"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            say("   watch | " + line)
            self.lines.put(line)

    def expect(self, pattern, what):
        rx = re.compile(pattern)
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise DemoFailed("vitalectl watch exited (%s)" % self.proc.returncode)
                continue
            m = rx.search(line)
            if m:
                return m
        raise DemoFailed("no %s within %d s" % (what, STEP_TIMEOUT))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT, as Ctrl-C
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(5)
        return self.proc.returncode


def run_ctl(bus, who, ctl, *args, show=True):
    r = bus.run_as(who, [ctl] + list(args))
    if show:
        for line in (r.stdout + r.stderr).rstrip("\n").splitlines():
            say("   " + line)
    return r


class Scanner:
    """A serial (CDC-ACM) QR scanner: the daemon reads the pty's slave end,
    the demo types the scanned codes into the master end, as the scanner's
    firmware would, one code per CR-terminated line."""

    def __init__(self, owner, work):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        pts = os.ttyname(self.slave)
        pw = pwd.getpwnam(owner)
        os.chown(pts, pw.pw_uid, pw.pw_gid)
        # named as the kernel names a USB serial (CDC-ACM) scanner
        self.path = os.path.join(work, "ttyACM0")
        os.symlink(pts, self.path)

    def scan(self, text):
        os.write(self.master, text.encode() + b"\r\n")

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def decode_image(path):
    """What the scanner's camera does: the QR code's text from the image."""
    r = subprocess.run(["zbarimg", "--nodbus", "--raw", "-q", path], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0 or not r.stdout.strip():
        raise DemoFailed("zbarimg could not read %s: %s" % (path, r.stderr.strip()))
    return r.stdout.strip().splitlines()[0]


def image_check(bus, ctl, png, demo_pki):
    """`vitalectl token verify --image`, where this vitalectl has it: the
    admin's way to check a patient's screenshot without the daemon."""
    helptext = bus.run_as("root", [ctl, "token", "verify", "--help"])
    if "--image" not in helptext.stdout + helptext.stderr:
        return
    say("   vitalectl token verify --image %s:" % os.path.basename(png))
    run_ctl(bus, "root", ctl, "token", "verify", "--image", png, "--trust-dir",
            os.path.join(demo_pki, "trust.d"), "--allow-test-cards")


def story(bus, pcsc, demo_pki, ctl, work):
    banner("vitaled starts on the private system bus (as user 'vitaled')")
    scanner = Scanner("vitaled", work)
    try:
        conf = ("[General]\nEnablePlugins = pcsc, serial\n\n"
                "[Trust]\nDirectory = %s\nAllowTestCards = true\n\n"
                "[Tokens]\nDuplicateWindow = 1\n\n"
                "[serial]\nDevices = %s\n" % (os.path.join(demo_pki, "trust.d"), scanner.path))
        daemon = bus.start_vitaled(conf, env={"PCSCLITE_CSOCK_NAME": pcsc.socket})
        say("   configuration: demo trust store, test/demo cards accepted, "
            "serial scanner on %s" % scanner.path)
        watch = Watch(bus, ctl)
        try:
            watch.expect(r"vitaled .* is running", "daemon in vitalectl watch")
            watch.expect(r"reader Virtual PCD 00 01", "readers in vitalectl watch")
            banner("vitalectl status")
            run_ctl(bus, "member", ctl, "status")
            banner("vitalectl readers")
            run_ctl(bus, "member", ctl, "readers")
            episodes(bus, pcsc, demo_pki, ctl, work, watch, scanner)
        finally:
            code = watch.stop()
            if code not in (0, None):
                raise DemoFailed("vitalectl watch exited with %s" % code)
        banner("vitaled stops")
        status = daemon.stop()
        say("   vitaled exited with status %s" % status)
        if status != 0:
            raise DemoFailed("vitaled exited with %s:\n%s" % (status, daemon.log()[-2000:]))
    finally:
        scanner.close()


def episodes(bus, pcsc, demo_pki, ctl, work, watch, scanner):
    banner("1. A patient's demo card goes into the contact reader")
    pcsc.insert(0, profile="card", variant="demo", family=FAMILY, pki=demo_pki)
    watch.expect(r"card inserted in Virtual PCD 00 00", "card insertion")
    m = watch.expect(r"verified: physical card, 4 beneficiaries, demo card \[(\S+)\]",
                     "the card's verdict")
    card = m.group(1)
    banner("vitalectl show (a member of vitaled-clients: the family's rights today)")
    r = run_ctl(bus, "member", ctl, "show", card)
    if r.returncode != 0 or "MARTIN Sophie" not in r.stdout:
        raise DemoFailed("vitalectl show failed (%d)" % r.returncode)
    banner("vitalectl show as a user outside vitaled-clients")
    r = run_ctl(bus, "outsider", ctl, "show", card)
    if r.returncode != 4:
        raise DemoFailed("the outsider was not refused (exit %d)" % r.returncode)
    say("   (exit status %d: not authorised)" % r.returncode)

    banner("2. A patient taps the Carte Vitale app on the second reader (NFC)")
    pcsc.insert(1, profile="phone", variant="demo", family=FAMILY, pki=demo_pki)
    watch.expect(r"verified: phone over NFC, 4 beneficiaries, demo card",
                 "the phone's verdict")
    pcsc.remove(1)  # the phone's read stays available for a while: it is detached

    banner("3. A patient shows the app's QR code; the desk scanner reads it")
    png = os.path.join(work, "phone-qr.png")
    subprocess.run([PYTHON, MKTOKEN, "--pki", demo_pki, "--family", FAMILY,
                    "--variant", "valid", "--png", png], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    image_check(bus, ctl, png, demo_pki)
    text = decode_image(png)
    say("   the phone's screen (%s) holds %d characters: %s..." % (os.path.basename(png),
                                                                  len(text), text[:32]))
    scanner.scan(text)
    watch.expect(r"QR code scanned by ttyACM0", "the scan")
    watch.expect(r"verified: phone QR code, 4 beneficiaries, demo card", "the QR verdict")

    banner("4. Someone presents the same QR code again (a screenshot)")
    time.sleep(1.5)  # past the scanner's duplicate window: a new presentation
    scanner.scan(text)
    watch.expect(r"replayed: phone QR code", "the replay verdict")

    banner("5. The card is pulled out of the reader")
    pcsc.remove(0)
    watch.expect(r"card removed from Virtual PCD 00 00: its data is gone", "the removal")
    r = run_ctl(bus, "member", ctl, "show", card)
    if r.returncode == 0:
        raise DemoFailed("the pulled card's data is still there")

    banner("6. A forged card (its data changed after signing) goes in")
    pcsc.insert(0, profile="card", variant="wrong-hash", family=FAMILY, pki=demo_pki)
    watch.expect(r"forged: physical card", "the forged card's verdict")
    pcsc.remove(0)
    watch.expect(r"card removed from Virtual PCD 00 00", "the forged card's removal")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", default=os.environ.get("top_builddir") or os.getcwd())
    a = ap.parse_args()
    os.environ["top_builddir"] = os.path.abspath(a.builddir)
    os.environ["top_srcdir"] = SRCDIR
    ctl = os.path.join(a.builddir, "tools", "vitalectl")
    for prog in (ctl, os.path.join(a.builddir, "daemon", "vitaled")):
        if not os.access(prog, os.X_OK):
            say("run-demo: %s is not built (use --builddir)" % prog)
            return 2
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="vitaled-demo-")
    os.chmod(work, 0o755)
    say("vitaled demo: private pcscd with two virtual readers, private system bus with "
        "vitaled's policy, demo PKI")
    try:
        demo_pki = vpki.pki_dir(demo=True)
        say("   demo PKI (issuer root, document signer, CRL) made with openssl in %s" % demo_pki)
        with Pcsc(pki=demo_pki) as pcsc, SystemBus() as bus:
            os.chmod(pcsc.workdir, 0o755)  # the daemon's user reaches pcscd's socket
            say("   pcscd: %s" % ", ".join(pcsc.readers))
            story(bus, pcsc, demo_pki, ctl, work)
    except (HarnessUnavailable, BusUnavailable) as e:
        say("run-demo: cannot set up the private services: %s" % e)
        return 1
    except DemoFailed as e:
        say("run-demo: FAILED: %s" % e)
        return 1
    except KeyboardInterrupt:
        say("run-demo: interrupted")
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say()
    say("Demo complete in %.0f s: card, NFC phone and QR code verified; replay and forgery "
        "refused; pulled card wiped. Nothing is left running." % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
