#!/usr/bin/python3
"""A pharmacy counter end to end (issue 15): one serial desk scanner shared
by vitaled and the pharmacy software.

The patient shows a phone QR code (verified); then the pharmacist scans
200 drug boxes at a person's pace — EAN-13 (CIP-13) codes and GS1
DataMatrix strings whose FNC1 separators come as GS characters, some with
their AIM identifier, some boxes twice.  The pharmacy software (a member
of the pass-through group) reads the scanner's pass-through port, and a
D-Bus client of the client group listens to Reader1.OtherCode.  Checked:
the patient's read stays served (GetBeneficiaries) through all of it and
until its lifetime ends, no other card object ever appears, and every
drug code reaches the pharmacy software once, byte for byte, and the D-Bus
client once.
"""
import os
import random
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import bus as vbus  # noqa: E402
from vtest import daemon as vdaemon  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest import qr, share, soak  # noqa: E402
from vtest.tap import Tap  # noqa: E402

BOXES = 200
PACE = 0.3          # s between scans: a person (the scanner throttle lets 4/s through)
LIFETIME = 120      # s: [DBus] PhoneReadLifetime, more than the 200 scans take
GS = share.GS


def drug_codes(rng):
    """BOXES scanner lines (line end included): CIP-13 boxes and GS1
    DataMatrix (GTIN, expiry, lot, serial), a few boxes scanned twice."""
    out = []
    while len(out) < BOXES:
        cip = share.cip(rng.randrange(10 ** 7)).encode()
        kind = rng.randrange(4)
        if kind == 0:
            line = cip
        else:
            gs1 = (b"010" + cip + b"17%02d%02d31" % (rng.randrange(26, 31), rng.randrange(1, 13))
                   + b"10LOT%d" % rng.randrange(10 ** 5) + GS
                   + b"21%010d" % rng.randrange(10 ** 10))
            line = (b"]d2" + gs1) if kind == 3 else (GS + gs1)
        out.append(line + b"\r\n")
        if rng.randrange(20) == 0 and len(out) < BOXES:
            out.append(line + b"\r\n")      # a second box of the same lot
    return out


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    tmp = tempfile.mkdtemp(prefix="vitaled-pharmacy-")
    run = tempfile.mkdtemp(prefix="vitaled-pharmacy-run-")
    os.chmod(run, 0o755)
    path = os.path.join(tmp, "scanner0")
    rid = "serial-" + path
    bus = vbus.SystemBus()
    bus.start()
    conf = ("[General]\nEnablePlugins = serial\n\n[Trust]\nDirectory = %s\n\n"
            "[DBus]\nPhoneReadLifetime = %d\n\n[serial]\nDevices = %s/scanner*\n"
            "PassThrough = pty\nPassThroughDirectory = %s\nPassThroughGroup = %s\n"
            % (vpki.trust_dir(), LIFETIME, tmp, run, vbus.CLIENT_GROUP))
    d = bus.start_vitaled(conf, user="root")
    sc = None
    with qr.scenario(t, "pharmacy", bus, d):
        sc = soak.Scanner(path)
        m = d.wait_log(r"reader %s: pass-through (\S+)" % rid)
        link = m.group(1)
        pharmacy = share.PortReader(bus, link)
        listener = share.OtherCodeListener(bus)

        pos = d.log_size()
        token = next(soak.tokens(1))
        read_at = time.monotonic()      # the read and its lifetime begin after this
        sc.scan(token)
        verdict, serial, pos = qr.wait_verdict(d, rid, pos)
        card = qr.card_on_bus(bus, rid, "verified")
        t.ok(verdict == "verified" and card, "the patient's phone QR code is verified")

        codes = drug_codes(random.Random(15))
        for line in codes:
            time.sleep(PACE)
            os.write(sc.master, line)      # a line is far below the pty's buffer
        time.sleep(PACE)
        os.write(sc.master, b"END\r\n")
        got = pharmacy.received()
        t.eq(got, b"".join(codes) + b"END\r\n",
             "the pharmacy software got all %d drug codes once, byte for byte, in order"
             % len(codes))

        signals = [s["code"] for s in listener.signals(len(codes) + 1)]
        listener.stop()
        t.eq(signals, [c[:-2] for c in codes] + [b"END"],
             "the D-Bus client got one OtherCode per drug code, bytes as scanned")

        objs = bus.call_as("member", "/org/vitaled", "org.freedesktop.DBus.ObjectManager",
                           "GetManagedObjects")["ok"]
        cards = [p for p, i in objs.items() if "org.vitaled.Card1" in i]
        t.eq(cards, [card["path"]], "no card object but the patient's")
        r = bus.call_as("member", card["path"], "org.vitaled.Card1", "GetBeneficiaries", "")
        t.ok("ok" in r and len(r["ok"]) >= 1,
             "after %d boxes the patient's read is still served (%d s after it)"
             % (len(codes), time.monotonic() - read_at), r.get("error"))
        t.ok("released by a client" not in d.log() and "evicted" not in d.log(),
             "nothing released or evicted it")
        m = d.wait_log(r"card %d: phone read lifetime over, data wiped" % serial, LIFETIME + 60, pos)
        t.ok(m and time.monotonic() - read_at >= LIFETIME,
             "it goes when its lifetime ends (%d s), not before" % LIFETIME)
        log = d.log()
        cips = {m.decode() for c in codes for m in re.findall(rb"34009\d{8}", c)}
        t.ok(cips and not any(cip in log for cip in cips), "no drug code in the log")
    if sc:
        sc.unplug()
    t.done()


if __name__ == "__main__":
    main()
