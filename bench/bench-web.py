#!/usr/bin/python3
"""The web bridge's cost (issue 16): a page's getBeneficiaries through
vitaled-web-bridge against the same Card1.GetBeneficiaries("") on D-Bus
alone, in the same run, on a private system-like bus with our policy, the
real daemon and the reference card in a private pcscd.

- bridge: this process writes the framed call on the host's stdin and reads
  the framed reply (what the browser does), the host started as the
  member, the allowed origin greeted first; one call in flight.
- floor: bench/bench-web-floor as the member, the same blocking libdbus call
  the host makes, in C, on the same card, without pipes or JSON.
- for scale, a python-dbus client making the call (what a Python desktop
  client pays, decoding included).

Prints the medians and bench-result lines for bench/run (goal: the bridge
within 2x of the call alone — one pipe hop each way, the reply decoded and
encoded as JSON, and the page side's JSON parse on top of the same call).

    top_srcdir=... top_builddir=... /usr/bin/python3 bench/bench-web.py [CALLS]
"""
import json
import os
import statistics
import struct
import subprocess
import sys
import time

SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDDIR = os.environ.get("top_builddir") or os.getcwd()
os.environ.setdefault("top_srcdir", SRCDIR)
os.environ.setdefault("top_builddir", BUILDDIR)
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
from vtest import pki as vpki  # noqa: E402
from vtest.bench import result  # noqa: E402
from vtest.bridge import AllowList, ORIGIN, frame, host_path  # noqa: E402
from vtest.bus import SystemBus  # noqa: E402
from vtest.pcsc import Pcsc  # noqa: E402
from vtest.proc import wait_for  # noqa: E402

GOAL = 2.0

# As the member: k blocking GetBeneficiaries("") after a warm-up; latencies.
DIRECT = r"""
import json, sys, time, dbus
path, k = sys.argv[1], int(sys.argv[2])
obj = dbus.SystemBus().get_object("org.vitaled", path, introspect=False)
call = obj.get_dbus_method("GetBeneficiaries", "org.vitaled.Card1")
for _ in range(max(1, k // 10)):
    call("")
lat = []
for _ in range(k):
    t0 = time.perf_counter()
    r = call("")
    lat.append(time.perf_counter() - t0)
    assert len(r) == 4
print(json.dumps(lat))
"""


class Bridge:
    """The host on two pipes, driven synchronously: no thread between the
    write and the read that would add its own latency."""

    def __init__(self, bus, allow):
        self.p = bus.popen_as("member", [host_path(), "chrome-extension://bench/"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL,
                              env=bus.env({"VITALED_WEB_ALLOW_DIR": allow.dir}))
        self.id = 0

    def request(self, msg):
        self.id += 1
        self.p.stdin.write(frame(dict(msg, id=self.id)))
        self.p.stdin.flush()
        while True:
            (n,) = struct.unpack("=I", self.p.stdout.read(4))
            m = json.loads(self.p.stdout.read(n))
            if m.get("type") != "event":
                return m

    def close(self):
        self.p.stdin.close()
        return self.p.wait(30)


def main():
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    allow = AllowList([ORIGIN])
    try:
        with SystemBus() as bus, Pcsc() as h:
            h.share_socket()
            bus.start_vitaled("[General]\nEnablePlugins = pcsc\n[Trust]\nDirectory = %s\n"
                              % vpki.trust_dir(), env={"PCSCLITE_CSOCK_NAME": h.socket})
            h.insert(0, "card", family="reference")
            b = Bridge(bus, allow)
            assert b.request({"type": "hello", "protocol": 1, "origin": ORIGIN})["type"] == "hello"
            cards = wait_for(lambda: [c for c in b.request({"type": "call",
                             "method": "getCards"})["result"] if c["State"] == "done"])
            path = cards[0]["path"]
            call = {"type": "call", "method": "getBeneficiaries", "params": {"card": path,
                                                                             "date": ""}}
            # Alternate blocks so that load on the machine hits both alike.
            floor = os.path.join(BUILDDIR, "bench", "bench-web-floor")
            web, direct, python = [], [], []
            for _ in range(4):
                for _ in range(max(1, k // 40)):
                    b.request(call)
                for _ in range(k // 4):
                    t0 = time.perf_counter()
                    r = b.request(call)
                    web.append(time.perf_counter() - t0)
                    assert len(r["result"]) == 4, r
                r = bus.run_as("member", [floor, path, str(k // 4)], cwd="/", timeout=1800)
                if r.returncode:
                    raise RuntimeError(r.stderr[-2000:])
                direct += [float(x) for x in r.stdout.split()]
                r = bus.run_as("member", ["/usr/bin/python3", "-c", DIRECT, path, str(k // 4)],
                               cwd="/", timeout=1800)
                if r.returncode:
                    raise RuntimeError(r.stderr[-2000:])
                python += json.loads(r.stdout.strip().splitlines()[-1])
            status = b.close()
    finally:
        allow.remove()

    def ms(lat, p=None):
        return (statistics.median(lat) if p is None else sorted(lat)[int(len(lat) * p)]) * 1000

    a, f, py = ms(web), ms(direct), ms(python)
    print("vitaled web bridge benchmark (%s, %d CPUs)" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                        os.cpu_count()))
    print("getBeneficiaries through the bridge, median:     %.3f ms (p95 %.3f)" % (
        a, ms(web, 0.95)))
    print("GetBeneficiaries with libdbus alone (C), median: %.3f ms (p95 %.3f)" % (
        f, ms(direct, 0.95)))
    print("GetBeneficiaries from python-dbus, median:       %.3f ms (p95 %.3f)" % (
        py, ms(python, 0.95)))
    print("ratio %.2f (goal <= %.1f); python-dbus / C %.2f; %d calls each; host exit %s" % (
        a / f, GOAL, py / f, len(web), status))
    # milliseconds to the microsecond: ratio_result's one decimal is too coarse here
    result("web bridge: getBeneficiaries round trip, median (floor: the D-Bus call alone, C)",
           round(a, 3), round(f, 3), round(a / f, 3), "ms", "<= %.1f" % GOAL, a / f <= GOAL)
    result("web bridge: the same call from python-dbus, for scale (floor: C)",
           round(py, 3), round(f, 3), round(py / f, 3), "ms", "", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
