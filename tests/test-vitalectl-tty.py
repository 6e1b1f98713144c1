#!/usr/bin/python3
"""vitalectl on a real terminal (tmux): colours on a terminal only, NO_COLOR
honoured, and `watch` shows a progress line while a card is being read,
cleared when the verdict comes."""
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))

from vtest import pki as vpki  # noqa: E402
from vtest.bus import SystemBus, BusUnavailable  # noqa: E402
from vtest.daemon import vitalectl_path  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402
from vtest.tap import Tap  # noqa: E402

CTL = vitalectl_path()
ESC = "\033["


class Tmux:
    """A private tmux server (its own socket), one window per command."""

    def __init__(self):
        self.sock = "vitalectl-test-%s" % uuid.uuid4().hex[:8]
        self.n = 0

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock] + list(args), capture_output=True,
                              text=True, timeout=30)

    def run(self, env, argv):
        """Start argv in a new 200x50 window; returns its target."""
        self.n += 1
        name = "w%d" % self.n
        cmd = "env %s %s; sleep 600" % (
            " ".join(shlex.quote("%s=%s" % kv) for kv in env.items()),
            " ".join(shlex.quote(a) for a in argv))
        if self.n == 1:
            self.tmux("new-session", "-d", "-s", "t", "-n", name, "-x", "200", "-y", "50", cmd)
        else:
            self.tmux("new-window", "-d", "-t", "t", "-n", name, cmd)
        return "t:" + name

    def capture(self, target, escapes=True):
        args = ["capture-pane", "-p", "-t", target] + (["-e"] if escapes else [])
        return self.tmux(*args).stdout

    def wait(self, target, pattern, timeout=30, escapes=False):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.capture(target, escapes)
            if rx.search(text):
                return text
            time.sleep(0.03)
        return None

    def close(self):
        self.tmux("kill-server")


def test_colours(t, tm, env, conf):
    w = tm.run(dict(env, TERM="xterm-256color"), [CTL, "status"])
    text = tm.wait(w, r"cards:", escapes=True)
    t.ok(text and ESC + "32mreachable" in text, "status on a terminal: pcscd in green", text)
    t.ok(text and re.search(re.escape(ESC) + r"1mvitaled \S+ is running", text),
         "status on a terminal: the headline in bold", text)
    w = tm.run(dict(env, TERM="xterm-256color", NO_COLOR="1"), [CTL, "status"])
    text = tm.wait(w, r"cards:", escapes=True)
    t.ok(text and "reachable" in text and ESC not in text, "NO_COLOR: no colours", text)
    w = tm.run(dict(env, TERM="xterm-256color"), [CTL, "--json", "status"])
    text = tm.wait(w, r"\"running\": true", escapes=True)
    t.ok(text and ESC not in text, "--json on a terminal: no colours", text)
    w = tm.run(dict(env, TERM="xterm-256color"), [CTL, "--config", conf, "diag"])
    text = tm.wait(w, r"passed, \d+ warning", escapes=True)
    t.ok(text and re.search(re.escape(ESC) + r"32m\[ OK \]" + re.escape(ESC) + r"(0|39)m clock", text),
         "diag on a terminal: [ OK ] in green", text)
    t.ok(text and re.search(re.escape(ESC) + r"33m\[WARN\]", text),
         "diag on a terminal: [WARN] in yellow", text)


def test_progress(t, tm, env, pcsc):
    w = tm.run(dict(env, TERM="xterm-256color"), [CTL, "watch"])
    t.ok(tm.wait(w, r"reader Virtual PCD 00 01"), "watch on a terminal: readers listed")
    # 0.2 s per APDU: the read takes a few seconds
    pcsc.insert(0, profile="card", variant="slow", wait=False)
    text = tm.wait(w, r"[|/\\-] reading .+ in Virtual PCD 00 00… \d+\.\d s", timeout=30)
    t.ok(text, "watch: a progress line while the card is read", tm.capture(w, False))
    later = tm.wait(w, r"[|/\\-] reading .+ in Virtual PCD 00 00… ([1-9]\d*\.\d|0\.[5-9]) s",
                    timeout=30)
    t.ok(later, "watch: the progress line moves on", tm.capture(w, False))
    text = tm.wait(w, r"verified: physical card, 4 beneficiaries", timeout=30, escapes=False)
    t.ok(text, "watch: the verdict", tm.capture(w, False))
    if text:
        t.ok("reading" not in text, "watch: the progress line is gone with the verdict", text)
    text = tm.capture(w, True)  # tmux re-encodes attributes: bold and green, in order
    t.ok(re.search(re.escape(ESC) + r"1m" + re.escape(ESC) + r"32mverified", text),
         "watch: the verdict in bold green", text)
    pcsc.remove(0)
    t.ok(tm.wait(w, r"card removed from Virtual PCD 00 00"), "watch: the removal")
    # show on a terminal waits for a card being read, with a progress line
    pcsc.insert(0, profile="card", variant="slow", wait=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and '"state": "reading"' not in subprocess.run(
            [CTL, "--json", "readers"], capture_output=True, text=True,
            env=dict(os.environ, **env)).stdout:
        time.sleep(0.05)
    s = tm.run(dict(env, TERM="xterm-256color"), [CTL, "show"])
    text = tm.wait(s, r"[|/\\-] waiting for the card to be read… \d+\.\d s", timeout=30)
    t.ok(text, "show: a progress line while the card is read", tm.capture(s, False))
    text = tm.wait(s, r"^ 4  MARTIN Hugo", timeout=30)
    t.ok(text and "waiting for the card" not in text, "show: then the table, progress line gone",
         tm.capture(s, False))
    pcsc.remove(0)


def main():
    t = Tap()
    if not shutil.which("tmux"):
        t.skip("vitalectl on a terminal", "tmux is not installed")
        t.done()
    tm = Tmux()
    try:
        with Pcsc() as pcsc, SystemBus() as bus:
            pcsc.share_socket()  # the daemon's user reaches pcscd's socket
            conf = "[Trust]\nDirectory = %s\n[General]\nEnablePlugins = pcsc\n" % vpki.trust_dir()
            d = bus.start_vitaled(conf, env={"PCSCLITE_CSOCK_NAME": pcsc.socket})
            os.chmod(d.conf_path, 0o644)
            env = {"DBUS_SYSTEM_BUS_ADDRESS": bus.address, "PCSCLITE_CSOCK_NAME": pcsc.socket,
                   "TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "Virtual PCD 00 01" not in subprocess.run(
                    [CTL, "readers"], capture_output=True, text=True, env=bus.env()).stdout:
                time.sleep(0.1)
            t.run(test_colours, tm, env, d.conf_path)
            t.run(test_progress, tm, env, pcsc)
    except (HarnessUnavailable, BusUnavailable) as e:
        t.skip("vitalectl on a terminal", str(e))
    finally:
        tm.close()
    t.done()


if __name__ == "__main__":
    main()
