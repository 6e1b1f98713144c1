#!/usr/bin/python3
"""The web bridge against the plain D-Bus client, same run, same daemon
(issue 16), with the whole chain of tests/test-web.py: headless Chromium as a
member of the client group, the extension, the real host, the private
system bus, the daemon, pcscd with vpcd and the card emulator.

1. Card inserted -> the demo reception page has rendered the card's
   beneficiaries (the card event, getBeneficiaries and getAffiliation
   through the bridge, the table filled), against the floor: the same
   insertion -> `vitalectl --json watch` (as the same user) prints the
   verdict "verified".  Goal: <= 1.3x.
2. getBeneficiaries round trip from the page (vitaled.js -> content script
   -> extension -> host -> D-Bus and back), against the floor: the same
   Card1.GetBeneficiaries("") from a D-Bus client (python-dbus) as the member.

    top_srcdir=... top_builddir=... /usr/bin/python3 bench/bench-browser.py [INSERTIONS]
"""
import json
import os
import select
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from vtest.bench import ratio_result  # noqa: E402
from vtest.daemon import vitalectl_path  # noqa: E402
from vtest.webrig import WebRig  # noqa: E402

ROUND_TRIPS = 200

# The page's clock at each rendered card (epoch ms, as time.time() here).
OBSERVE = """(() => {
    window.__rendered = [];
    const card = document.getElementById('card');
    new MutationObserver(() => {
        if (card.dataset.rendered && card.dataset.rendered !== window.__last) {
            window.__last = card.dataset.rendered;
            window.__rendered.push(Date.now());
        }
        if (!card.dataset.rendered)
            window.__last = null;
    }).observe(card, {attributes: true});
    return 1;
})()"""

# k sequential getBeneficiaries from the page, through vitaled.js.
PAGE_TRIPS = """(async () => {
    const { connect } = await import('/vitaled.js');
    const v = await connect();
    const cards = await v.cards();
    const card = cards[cards.length - 1];
    for (let i = 0; i < 20; i++) await v.beneficiaries(card);      // warm-up
    const lat = [];
    for (let i = 0; i < %d; i++) {
        const t0 = performance.now();
        await v.beneficiaries(card);
        lat.push(performance.now() - t0);
    }
    v.close();
    window.__trips = JSON.stringify(lat);
})(), 1"""

DBUS_TRIPS = r"""
import json, sys, time, dbus
bus = dbus.SystemBus()
obj = bus.get_object("org.vitaled", sys.argv[1], introspect=False)
m = obj.get_dbus_method("GetBeneficiaries", "org.vitaled.Card1")
for _ in range(20):
    m("")
lat = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    m("")
    lat.append((time.perf_counter() - t0) * 1000)
print(json.dumps(lat))
"""


def verified_after(watch, t0, timeout=60):
    """Epoch ms at which vitalectl printed a verified verdict after t0."""
    deadline = time.monotonic() + timeout
    fd = watch.stdout.fileno()
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.5)[0]:
            continue
        line = watch.stdout.readline()
        at = time.time() * 1000
        ev = json.loads(line)
        if ev.get("event") == "card-verdict" and ev.get("status") == "verified" and at > t0:
            return at
    raise TimeoutError("vitalectl saw no verified card")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rig = WebRig(["reception.test"], ["reception.test"])
    try:
        rig.start()
        watch = rig.bus.popen_as("member", [vitalectl_path(), "--json", "watch"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 bufsize=1)
        with rig.chromium("member") as b:
            tab = b.open(rig.site.url("reception.test", "/demo/"))
            if tab.wait("document.body.dataset.ready || document.body.dataset.error") != "1":
                raise RuntimeError("the page did not connect: %s" % b.log()[-2000:])
            tab.eval(OBSERVE)
            page, ctl = [], []
            for i in range(n):
                t0 = time.time() * 1000
                rig.pcsc.insert(0, profile="card", variant="reference")
                ctl.append(verified_after(watch, t0) - t0)
                if not tab.wait("window.__rendered.length === %d" % (i + 1), 60):
                    raise RuntimeError("the page did not render card %d" % (i + 1))
                page.append(tab.eval("window.__rendered[%d]" % i) - t0)
                if i < n - 1:
                    rig.pcsc.remove(0)
                    tab.wait("document.getElementById('card').dataset.state === 'none'")
            tab.eval(PAGE_TRIPS % ROUND_TRIPS)
            trips = json.loads(tab.wait("window.__trips", 120))
            path = [r["card"]["path"] for r in rig.ctl_json("readers") if r["card"]][0]
            rc, out, err = rig.bus.python_as("member", DBUS_TRIPS, path, ROUND_TRIPS)
            if rc:
                raise RuntimeError("D-Bus client: %s" % err)
            floor_trips = json.loads(out)
            tab.close()
        watch.kill()
        watch.wait()
    finally:
        rig.stop()
    med = statistics.median
    print("insertions: %d; round trips: %d" % (n, ROUND_TRIPS))
    print("insertion -> page rendered (ms): median %.1f, max %.1f" % (med(page), max(page)))
    print("insertion -> vitalectl verified (ms): median %.1f, max %.1f" % (med(ctl), max(ctl)))
    ratio_result("web: insertion -> card rendered in the page (ms; floor: vitalectl sees "
                 "verified)", med(page), med(ctl), "ms", "<= 1.3x", lambda r: r <= 1.3)
    ratio_result("web: getBeneficiaries round trip from the page (ms; floor: the D-Bus "
                 "call)", med(trips), med(floor_trips), "ms", "", lambda r: None)


if __name__ == "__main__":
    main()
