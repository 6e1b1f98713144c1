#!/usr/bin/python3
"""vd_chip_read() through the real pcscd against every virtual chip of tests/emu.

Each variant of tests/emu/vcard.py (card and phone applications, T=0 habits,
61 XX / 6C XX, slow, vanishing and random chips, every hostile data layout),
the legacy Vitale 2 and a plain ISO card are read by tests/unit/chip-pcsc —
the engine exactly as a source calls it — and must give the verdict
vcard.py documents. The APDU count of each profile is printed.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402

BUILD = os.environ.get("top_builddir", ".")
READER = os.path.join(BUILD, "tests", "unit", "chip-pcsc")
VCARD = os.path.join(HERE, "emu", "vcard.py")
NOW = "1780272000"  # 2026-06-01: inside every validity of the test PKI

t = Tap()


def read(h, trust, allow_test=False):
    argv = [READER, trust, "0", NOW] + (["allow-test-cards"] if allow_test else [])
    r = subprocess.run(argv, env=h.env(), capture_output=True, text=True, timeout=60)
    out = dict(kv.split("=", 1) for kv in r.stdout.split())
    out["reason"] = r.stderr.strip()
    # a sanitizer report (leak, overflow) changes the exit status
    out["rc"] = r.returncode
    return out


def check(h, profile, variant, want, pki=None, allow_test=False):
    trust = os.path.join(pki or vpki.pki_dir(), "trust.d")
    h.insert(0, profile=profile, variant=variant, pki=pki)
    got = read(h, trust, allow_test)
    h.remove(0)
    name = "%s/%s: %s" % (profile, variant, want)
    t.ok(got.get("status") == want and got["rc"] == 0, name,
         "got %s, exit %d (%s)" % (got.get("status"), got["rc"], got.get("reason")))
    t.ok((got.get("record") == "1") == (want in ("verified", "unverifiable")),
         "%s/%s: a record only when verified (or a legacy identity)" % (profile, variant))
    return got


def main():
    listing = json.loads(subprocess.run(["/usr/bin/python3", VCARD, "--list"],
                                        capture_output=True, check=True).stdout)
    try:
        h = Pcsc(pki=vpki.pki_dir())
        h.__enter__()
    except HarnessUnavailable as e:
        t.skip("virtual chips in a private pcscd", str(e))
        t.done()
    try:
        got = check(h, "card", "reference", "verified")
        t.diag("card profile (reference family): %s APDUs" % got.get("apdus"))
        t.ok(got.get("beneficiaries") == "4" and got.get("form") == "card",
             "card: 4 beneficiaries, form card")
        got = check(h, "phone", "reference", "verified")
        t.diag("phone profile over NFC (reference family): %s APDUs" % got.get("apdus"))
        t.ok(got.get("form") == "phone-nfc", "phone: form phone-nfc")
        got = check(h, "legacy", "reference", listing["profiles"]["legacy"])
        t.diag("legacy Vitale 2: %s APDUs" % got.get("apdus"))
        # a Vitale 2 answering 67 00 to Le=00 (not 6C XX): read all the same
        got = check(h, "legacy", "sw6700", listing["profiles"]["legacy"])
        t.ok("67 00 to Le=00" in got["reason"] and got.get("apdus") == "8",
             "legacy/sw6700: the reason says so, 8 APDUs", got)
        got = check(h, "iso7816", "reference", listing["profiles"]["iso7816"])
        t.diag("plain ISO card: %s APDUs" % got.get("apdus"))

        for variant, want in sorted(listing["variants"].items()):
            if variant == "demo":
                demo = vpki.pki_dir(demo=True)
                check(h, "card", variant, want, pki=demo)
                check(h, "card", variant, "verified", pki=demo, allow_test=True)
                continue
            got = check(h, "card", variant, want)
            if variant == "test-marker":
                check(h, "card", variant, "verified", allow_test=True)
            if variant in ("t0", "sw61", "sw6c"):
                t.diag("card %s: %s APDUs" % (variant, got.get("apdus")))
        for variant in ("wrong-hash", "clone", "tlv-truncated"):
            check(h, "phone", variant, listing["variants"][variant])
    finally:
        h.__exit__(None, None, None)
    t.done()


main()
