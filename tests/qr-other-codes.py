#!/usr/bin/python3
"""Codes that are not Vitale tokens are not cards (issue 15).

A pharmacy's desk scanner reads the patient's phone and then drug boxes.
On a pty serial scanner: a verified phone read, then more drug-box codes
(EAN-13, GS1 strings with GS characters, a link, a plain EU DCC) than the
table of phone reads holds.  None makes a Card1 object, none evicts the
patient's read, Reader1.OtherCodes counts them and the log never shows
their content.  Then more phone reads than the table holds: only then the
oldest finished one goes, logged as evicted (not as released by a client).
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr, share, soak  # noqa: E402
from vtest.tap import Tap  # noqa: E402

TABLE = 64          # daemon/token.c MAX_TOKEN_CARDS
PACE = 0.3          # s between scans: slower than the scanner throttle (4/s)
GS = share.GS.decode()


def other_codes(count):
    """count distinct drug-box-like codes (plus a link and an EU DCC)."""
    out = ["https://example.org/notice?id=42", "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH"]
    n = 0
    while len(out) < count:
        n += 1
        out.append(share.cip(n) if n % 2 else
                   GS + "01" + "0" + share.cip(n) + "17271231" + "10LOT%04d" % n + GS + "21S%05d" % n)
    return out[:count]


def cards(bus):
    return {p: i["org.vitaled.Card1"] for p, i in qr.objects(bus).items() if "org.vitaled.Card1" in i}


def reader(bus, rid):
    for i in qr.objects(bus).values():
        r = i.get("org.vitaled.Reader1")
        if r and r["Id"] == rid:
            return r
    return None


def wait_other_codes(bus, rid, want, timeout=60):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        r = reader(bus, rid)
        got = r and r.get("OtherCodes")
        if got == want:
            break
        time.sleep(0.2)
    return got


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    tmp = tempfile.mkdtemp(prefix="vitaled-other-")
    path = os.path.join(tmp, "scanner0")
    rid = "serial-" + path
    bus, d = qr.start_daemon("serial", "Devices = %s/scanner*" % tmp)
    sc = None
    with qr.scenario(t, "other codes", bus, d):
        sc = soak.Scanner(path)
        d.wait_log(r"reader %s: added \(qr-serial" % rid)
        pos = d.log_size()
        patient = next(soak.tokens(1))
        sc.scan(patient)
        verdict, first, pos = qr.wait_verdict(d, rid, pos)
        t.eq(verdict, "verified", "the patient's phone QR code is verified")
        before = cards(bus)
        t.eq(len(before), 1, "one Card1 object for it")

        codes = other_codes(TABLE + 6)
        # two identical boxes in a row are two codes (no folding of rescans)
        codes[5] = codes[4]
        for c in codes:
            sc.scan(c)
            time.sleep(PACE)
        got = wait_other_codes(bus, rid, len(codes))
        t.eq(got, len(codes), "Reader1.OtherCodes counts every code that is not a token "
             "(%d, a repeated box included)" % len(codes))
        after = cards(bus)
        t.eq(sorted(after), sorted(before), "they made no Card1 object, and the patient's "
             "verified read is still there")
        t.ok(all(c["Status"] == "verified" for c in after.values()), "still verified", after)
        log = d.log()
        t.ok(not re.search(r"card \d+: phone-qr", log[pos:]),
             "no read was logged for them")
        t.ok(not re.search(r"released by a client|evicted", log), "nothing was released or evicted")
        leaked = [c for c in codes if c.strip(GS)[:13] in log]
        t.eq(leaked, [], "their content is not in the log")
        t.ok(re.search(r"reader %s: a code of \d+ bytes that is not a Vitale token \(%d so far\)"
                       % (re.escape(rid), len(codes)), log), "the log counts them, with sizes only")

        # Now phone reads fill the table: only then does the oldest go.
        pos = d.log_size()
        for text in soak.tokens(TABLE):
            sc.scan(text)
            time.sleep(PACE)
            v, last, pos = qr.wait_verdict(d, rid, pos)
        t.eq(v, "verified", "%d more phone reads verified" % TABLE)
        m = d.wait_log(r"card %d: evicted: %d QR phone reads held, the most kept; "
                       r"the oldest goes, data wiped" % (first, TABLE), 30)
        t.ok(m, "the 65th phone read evicts the oldest one, logged as evicted")
        now = cards(bus)
        t.eq(len(now), TABLE, "%d Card1 objects: the table is full, no more" % TABLE)
        t.ok(before and list(before)[0] not in now, "the evicted read's object is gone")
        t.ok("released by a client" not in d.log(), "no read is logged as released by a client")
    if sc:
        sc.unplug()
    t.done()


if __name__ == "__main__":
    main()
