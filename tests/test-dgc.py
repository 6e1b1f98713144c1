#!/usr/bin/python3
"""The EU DCC (HCERT) public test vectors against our envelope code.

Every case in tests/data/dgc (see its ABOUT.md) is checked for the envelope steps
(UNPREFIX, B45DECODE, COMPRESSION, PICTUREDECODE, VERIFY,
EXPIRATIONCHECK) it has an expectation for: the whole chain through
`vitalectl --json token verify --cert CERT --at CLOCK PREFIX`, and the
single steps through tests/unit/dgc-step (exact bytes) and zbarimg on the
real PNG (the case's 2DCODE, its 2DCode/png/ sibling or, FR, its image in
FR/png/).  Cases listed in known_issues.csv are skipped with the reason.
"""
import base64
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.paths import data_dir  # noqa: E402
from vtest.qr import ZBARIMG_QR  # noqa: E402
from vtest.tap import Tap  # noqa: E402

SRC = os.environ.get("top_srcdir", ".")
BUILD = os.environ.get("top_builddir", ".")


DGC = data_dir("dgc")
VITALECTL = os.path.join(BUILD, "tools", "vitalectl")
STEP = os.path.join(BUILD, "tests", "unit", "dgc-step")

# known_issues.csv test names → the step they concern
KNOWN_STEP = {
    "test_verification_check": "VERIFY",
    "test_expiration_check": "EXPIRATIONCHECK",
    "test_cose_schema": "SCHEMAVALIDATION",
    "test_cose_json": "DECODE",
    "test_cbor_json": "DECODE",
    "test_expected_key_usage": "KEYUSAGE",
}
OURS = ("UNPREFIX", "B45DECODE", "COMPRESSION", "PICTUREDECODE", "VERIFY",
        "EXPIRATIONCHECK")
# Steps of vitalectl's "step" field, in order; None = verified.
CHAIN = ["unprefix", "base45", "inflate", "cose", "verify", "expiration", None]


def known_issues():
    out = {}
    with open(os.path.join(DGC, "known_issues.csv")) as f:
        for row in csv.DictReader(f):
            out[(KNOWN_STEP.get(row["test_name"]), row["country"],
                 row["test_set"])] = row["reason"]
    return out


def expectations(case):
    """EXPECTEDRESULTS with the misspelt keys of the data normalised."""
    out = {}
    for key, val in case.get("EXPECTEDRESULTS", {}).items():
        name = key.upper()
        for prefix in ("EXPECTED", "EXPTECTED", "EXPECETED"):
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        out[name] = val
    return out


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def step(kind, arg):
    rc, out, _ = run([STEP, kind, arg])
    return out if rc == 0 else None


def chain(tmp, case):
    cert = os.path.join(tmp, "signer.der")
    with open(cert, "wb") as f:
        f.write(base64.b64decode(case["TESTCTX"]["CERTIFICATE"]))
    rc, out, err = run([VITALECTL, "--json", "token", "verify", "--cert", cert,
                        "--at", case["TESTCTX"]["VALIDATIONCLOCK"], case["PREFIX"]])
    res = json.loads(out)
    if (rc == 0) != (res["status"] == "verified"):
        raise AssertionError("exit %d with status %s" % (rc, res["status"]))
    return res


def passed_through(res, name):
    """Did the chain get past the given step?"""
    return CHAIN.index(res.get("step")) > CHAIN.index(name)


# Upstream keeps FR's images in FR/png, named after the case without its
# "_Raw" (DGC_QrCode_00001_Raw.json: DGC_QrCode_00001.png), and one with a
# dash for the case's underscore.
IMAGE_NAMES = {"test_pcr_ok": "test-pcr_ok"}


def image_of(path):
    """The published image of the case at path, or None: its 2DCode/png/
    sibling, else the country's png/ folder (FR)."""
    raw = os.path.dirname(path)
    name = os.path.splitext(os.path.basename(path))[0]
    name = IMAGE_NAMES.get(name, name)
    for png in (os.path.join(os.path.dirname(raw), "png", name + ".png"),
                os.path.join(os.path.dirname(os.path.dirname(raw)), "png",
                             name[:-len("_Raw")] if name.endswith("_Raw") else name) + ".png"):
        if os.path.exists(png):
            return png
    return None


def picture(tmp, case, path):
    png = image_of(path)
    if case.get("2DCODE"):
        png = os.path.join(tmp, "code.png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(case["2DCODE"]))
    elif not png:
        return "no image"
    rc, out, _ = run(ZBARIMG_QR + [png])
    return out if rc == 0 else None


def check_case(t, path, skips):
    rel = os.path.relpath(path, DGC)
    country = rel.split(os.sep)[0]
    test_set = os.path.splitext(os.path.basename(path))[0]
    with open(path) as f:
        case = json.load(f)
    want = expectations(case)
    with tempfile.TemporaryDirectory() as tmp:
        res = chain(tmp, case)
        for name in OURS:
            if name not in want:
                continue
            label = "%s %s (%s)" % (rel, name, res["status"])
            reason = (skips.get((name, country, test_set)) or
                      skips.get((name, country, "")))
            if reason:
                t.skip(label, "known issue upstream: " + reason)
                continue
            exp = want[name]
            if name == "UNPREFIX":
                got = passed_through(res, "unprefix")
                if exp and "BASE45" in case:
                    got = got and case["PREFIX"] == "HC1:" + case["BASE45"]
            elif name == "B45DECODE":
                text = case.get("BASE45", case["PREFIX"][4:])
                dec = step("base45", text)
                got = dec is not None
                if exp and got and "COMPRESSED" in case:
                    got = dec == case["COMPRESSED"].lower()
                if not exp:
                    got = got or passed_through(res, "base45")
            elif name == "COMPRESSION":
                if "COMPRESSED" in case:
                    inf = step("inflate", case["COMPRESSED"])
                    got = inf is not None
                    if exp and got and "COSE" in case:
                        got = inf == case["COSE"].lower()
                else:
                    got = True
                if exp:
                    got = got and passed_through(res, "inflate")
                else:
                    got = got or passed_through(res, "inflate")
            elif name == "PICTUREDECODE":
                img = picture(tmp, case, path)
                if img == "no image":
                    t.skip(label, "the vector has no QR image")
                    continue
                got = img == case["PREFIX"]
            elif name == "VERIFY":
                got = passed_through(res, "verify")
            else:
                got = res.get("step") is None
            t.ok(got == exp, label, "expected %s, engine said %r" % (exp, res))


def main():
    t = Tap()
    for prog in (VITALECTL, STEP):
        if not os.access(prog, os.X_OK):
            t.bail("%s not built" % prog)
    cases = sorted(glob.glob(os.path.join(DGC, "*", "2DCode", "raw", "*.json")))
    if not cases:
        t.bail("no test vectors under %s" % DGC)
    skips = known_issues()
    for path in cases:
        t.run(check_case, path, skips)
    t.done()


if __name__ == "__main__":
    main()
