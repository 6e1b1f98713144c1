#!/usr/bin/python3
"""The README's demo (tools/demo/run-demo.py; scripts/demo.sh adds only the
apt-get and the build): it must run to its end by itself, show every step
of the story, and leave no process behind."""
import os
import re
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))

from vtest.daemon import builddir, srcdir  # noqa: E402
from vtest.tap import Tap  # noqa: E402

DEMO = os.path.join(srcdir(), "tools", "demo", "run-demo.py")

# Each step of the story, in order, as the demo prints it.
STEPS = [
    (r"watch \| \S+ vitaled \S+ is running", "vitalectl watch sees the daemon"),
    (r"watch \| \S+ reader Virtual PCD 00 00 \(contact, idle\)", "the virtual readers"),
    (r"^==> vitalectl status", "vitalectl status"),
    (r"pcscd: +reachable", "status: pcscd reachable"),
    (r"watch \| \S+ card inserted in Virtual PCD 00 00", "the demo card goes in"),
    (r"watch \| \S+ verified: physical card, 4 beneficiaries, demo card", "card verified"),
    (r"1 +MARTIN Pierre +1980-03-15 +insured", "vitalectl show: the insured person"),
    (r"2 +MARTIN Sophie \(born DUBOIS\)", "vitalectl show: the spouse"),
    (r"not authorised", "the outsider is refused"),
    (r"exit status 4", "with exit status 4"),
    (r"watch \| \S+ verified: phone over NFC, 4 beneficiaries, demo card", "NFC phone verified"),
    (r"vitalectl token verify --image phone-qr.png:\n +verified: ", "the image checked by vitalectl"),
    (r"watch \| \S+ QR code scanned by ttyACM0", "the QR code is scanned"),
    (r"watch \| \S+ verified: phone QR code, 4 beneficiaries, demo card", "QR code verified"),
    (r"watch \| \S+ replayed: phone QR code, demo card — ", "the replayed QR is refused"),
    (r"watch \| \S+ card removed from Virtual PCD 00 00: its data is gone", "card pulled"),
    (r"no card /org/vitaled/cards/[0-9a-f]{32}", "the pulled card's data is gone"),
    (r"watch \| \S+ forged: physical card, demo card — ", "the forged card is refused"),
    (r"vitaled exited with status 0", "vitaled stops cleanly"),
    (r"^Demo complete in \d+ s", "the demo ends by itself"),
]


def leftovers(marker):
    """Processes still carrying the demo's environment marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if marker.encode() in f.read():
                    with open("/proc/%s/cmdline" % pid, "rb") as c:
                        found.append("%s %s" % (pid, c.read().replace(b"\0", b" ").decode()))
        except OSError:
            pass
    return found


def main():
    t = Tap()
    if os.geteuid() != 0:
        t.skip("demo", "needs root (private pcscd and bus, test users)")
        t.done()
    marker = "VITALED_DEMO_TEST=%s" % uuid.uuid4().hex
    env = dict(os.environ, VITALED_DEMO_TEST=marker.split("=", 1)[1], TZ="UTC")
    try:
        r = subprocess.run(["/usr/bin/python3", DEMO, "--builddir", builddir()],
                           capture_output=True, text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired as e:
        t.ok(False, "the demo ends by itself within 5 minutes", e.output)
        t.done()
    out = r.stdout
    t.eq(r.returncode, 0, "the demo exits 0")
    if r.returncode:
        t.diag(out[-4000:] + r.stderr[-2000:])
    pos = 0
    for pattern, name in STEPS:
        m = re.compile(pattern, re.M).search(out, pos)
        t.ok(m, "demo step: " + name, "not found after offset %d: %r" % (pos, pattern))
        if m:
            pos = m.end()
    t.ok("Sophie" not in "\n".join(x for x in out.splitlines() if "watch |" in x),
         "no personal data in the live events")
    t.eq(leftovers(marker), [], "nothing is left running")
    t.done()


if __name__ == "__main__":
    main()
