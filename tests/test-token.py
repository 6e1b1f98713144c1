#!/usr/bin/python3
"""Token verdicts with the real test PKI and tests/tokens/mktoken.py.

Every variant the generator knows must get its verdict from the engine
(tests/unit/token-check runs vd_token_verify as the daemon does), and the
replay cache must hold across restarts (a new process each time) and
survive a corrupt file without reopening the window.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("top_srcdir", ".")
BUILD = os.environ.get("top_builddir", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402

CHECK = os.path.join(BUILD, "tests", "unit", "token-check")
MKTOKEN = os.path.join(SRC, "tests", "tokens", "mktoken.py")
NOW = 1800000000        # 2027-01-15, inside the test signers' validity


def mktoken(variant, now=NOW, **kw):
    argv = ["/usr/bin/python3", MKTOKEN, "--pki", vpki.pki_dir(), "--variant", variant,
            "--now", str(now), "--json"]
    for k, v in kw.items():
        argv += ["--" + k, str(v)]
    p = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(p.stdout)


def check(tokens, now=NOW, replay="-"):
    """[(status, reason)] for each token, and the '#' lines."""
    p = subprocess.run([CHECK, vpki.trust_dir(), replay, str(now)] + list(tokens),
                       capture_output=True, text=True, timeout=120)
    if p.returncode not in (0, 1):
        raise AssertionError("token-check failed (%d): %s" % (p.returncode, p.stderr))
    lines = p.stdout.splitlines()
    verdicts = [tuple(ln.split(" ", 1)) for ln in lines if not ln.startswith("#")]
    notes = [ln for ln in lines if ln.startswith("#")]
    if any("has_record" in n for n in notes):
        raise AssertionError("data handed out with a verdict other than verified")
    if (p.returncode == 0) != all(v[0] == "verified" for v in verdicts):
        raise AssertionError("exit status does not match the verdicts")
    return verdicts, notes


def test_variants(t):
    listing = subprocess.run(["/usr/bin/python3", MKTOKEN, "--list"], capture_output=True,
                             text=True, check=True).stdout
    for variant, want in json.loads(listing).items():
        info = mktoken(variant)
        if variant == "replayed":
            with tempfile.TemporaryDirectory() as d:
                got, _ = check(info["tokens"], replay=os.path.join(d, "replay"))
            t.eq([g[0] for g in got], ["verified", "replayed"], "variant replayed")
            continue
        got, _ = check([info["token"]])
        t.eq(got[0][0], want, "variant %s (%s)" % (variant, got[0][1]))


def test_replay_restart(t):
    with tempfile.TemporaryDirectory() as d:
        cache = os.path.join(d, "replay")
        tok = mktoken("valid")["token"]
        other = mktoken("valid-ps256")["token"]
        got, _ = check([tok], replay=cache)
        t.eq(got[0][0], "verified", "first presentation verified")
        got, _ = check([tok, other], now=NOW + 5, replay=cache)
        t.eq([g[0] for g in got], ["replayed", "verified"],
             "after a restart: the same token is replayed, another one verifies")
        got, _ = check([tok], now=NOW + 10, replay=cache)
        t.eq(got[0][0], "replayed", "and still after a second restart")
        # Once the token itself expired the id may be forgotten: expired wins.
        got, _ = check([tok], now=NOW + 3600, replay=cache)
        t.eq(got[0][0], "expired", "an old token is expired, not replayed")
        with open(cache) as f:
            t.ok(f.read().startswith("vitaled-replay 2\n"), "cache file written")


def test_replay_corrupt(t):
    real = int(time.time())
    with tempfile.TemporaryDirectory() as d:
        cache = os.path.join(d, "replay")
        before = mktoken("valid", now=real - 20)["token"]
        for garbage in (b"\x00\xff garbage\n", b"vitaled-replay 2\nfloor x\nhorizon 0\n",
                        b"vitaled-replay 2\nfloor 0\nhorizon 0\nzz 12\n", b"",
                        b"vitaled-replay 2\nfloor 0\nhorizon 0\n" + b"ab" * 5000 + b" 1\n"):
            with open(cache, "wb") as f:
                f.write(garbage)
            got, notes = check([before], now=real - 10, replay=cache)
            t.ok(any("corrupt" in n for n in notes), "corrupt cache %r reported" % garbage[:20])
            t.eq(got[0][0], "replayed",
                 "a token issued before the rebuild is refused (%s)" % got[0][1])
        after = mktoken("valid", now=real + 5)["token"]
        got, notes = check([after], now=real + 10, replay=cache)
        t.eq((got[0][0], notes), ("verified", []),
             "the rebuilt cache loads cleanly and accepts a newer token")


def crafted(t):
    """Well-signed tokens that break one rule of doc/formats.md section 8."""
    sys.path.insert(0, os.path.join(SRC, "tests", "tokens"))
    import cbor2
    import mktoken as mk
    import openprofile as op
    pki = vpki.pki_dir()
    fam = op.load_family(op.family_path("reference"))
    holder = mk.load_key(pki, "holder-1")
    signer = mk.load_key(pki, "ds-es256")
    kid = mk.kid_of(pki, "ds-es256")

    def sign1(key, protected, unprotected, payload):
        prot = cbor2.dumps(protected)
        tbs = cbor2.dumps(["Signature1", prot, b"", payload])
        return cbor2.dumps([prot, unprotected, payload, mk.sign(key, mk.ALG_ES256, tbs)])

    def doc_claims(change=None):
        claims = {1: "FR", 6: NOW - 86400, 4: NOW + 86400, 8: {1: mk.cose_key(holder)},
                  -65537: {1: op.dg1(fam, "phone"), 2: op.dg2(fam)}}
        claims.update(change or {})
        return {k: v for k, v in claims.items() if v is not None}

    def token(doc=None, outer_prot=None, outer_unprot=None, pres=None):
        if doc is None:
            doc = sign1(signer, {1: -7, 4: kid}, {}, cbor2.dumps(doc_claims()))
        claims = {6: NOW, 4: NOW + 60, 7: os.urandom(16), -65538: doc}
        claims.update(pres or {})
        claims = {k: v for k, v in claims.items() if v is not None}
        cose = sign1(holder, {1: -7} if outer_prot is None else outer_prot,
                     outer_unprot or {}, cbor2.dumps(claims))
        return mk.envelope(cose)

    def doc_with(claims=None, prot=None, unprot=None):
        return sign1(signer, {1: -7, 4: kid} if prot is None else prot, unprot or {},
                     cbor2.dumps(claims if claims is not None else doc_claims()))

    bad_point = dict(mk.cose_key(holder))
    bad_point[-3] = bytes(32)
    cases = [
        ("baseline", token(), "verified"),
        ("kid only in the unprotected header", token(doc_with(prot={1: -7}, unprot={4: kid})),
         "malformed"),
        ("issuer alg only in the unprotected header",
         token(doc_with(prot={4: kid}, unprot={1: -7})), "malformed"),
        ("presentation alg only in the unprotected header",
         token(outer_prot={}, outer_unprot={1: -7}), "malformed"),
        ("presentation alg PS256", token(outer_prot={1: -37}), "malformed"),
        ("kid of 7 bytes", token(doc_with(prot={1: -7, 4: kid[:7]})), "malformed"),
        ("cti of 15 bytes", token(pres={7: os.urandom(15)}), "malformed"),
        ("no cti", token(pres={7: None}), "malformed"),
        ("float iat", token(pres={6: float(NOW)}), "malformed"),
        ("negative exp", token(pres={4: -1}), "malformed"),
        ("text map key in the claims", token(pres={"x": 1}), "malformed"),
        ("issuer document without iss", token(doc_with(doc_claims({1: None}))), "malformed"),
        ("issuer document without cnf", token(doc_with(doc_claims({8: None}))), "malformed"),
        ("holder point not on the curve",
         token(doc_with(doc_claims({8: {1: bad_point}}))), "malformed"),
        ("card data group 1 in a token",
         token(doc_with(doc_claims({-65537: {1: op.dg1(fam, "card"), 2: op.dg2(fam)}}))),
         "malformed"),
        ("data group 5 in the map",
         token(doc_with(doc_claims({-65537: {1: op.dg1(fam, "phone"), 2: op.dg2(fam),
                                               5: b"\x65\x00"}}))), "malformed"),
        ("presentation exp before iat", token(pres={4: NOW - 1}), "malformed"),
        # doc/formats.md 8.2: alg and kid only from the protected header; other
        # labels ignored in both headers, crit refused
        ("issuer alg PS256 in the unprotected header (ignored)",
         token(doc_with(unprot={1: -37})), "verified"),
        ("presentation alg PS256 in the unprotected header (ignored)",
         token(outer_unprot={1: -37}), "verified"),
        ("another kid in the unprotected header (ignored)",
         token(doc_with(unprot={4: bytes(8)})), "verified"),
        ("extra labels in both headers (ignored)",
         token(doc_with(prot={1: -7, 4: kid, 5: bytes(12), -70000: "x", "note": 1},
                        unprot={33: b"\x30\x00", -70001: [1, 2], "note": "y"}),
               outer_prot={1: -7, -70000: b"z"}, outer_unprot={5: bytes(12)}), "verified"),
        ("crit in the issuer's protected header", token(doc_with(prot={1: -7, 4: kid, 2: [-70000],
                                                                         -70000: 1})),
         "malformed"),
        ("crit in the presentation's unprotected header", token(outer_unprot={2: [5]}),
         "malformed"),
    ]
    for name, text, want in cases:
        got, _ = check([text])
        t.eq(got[0][0], want, "%s (%s)" % (name, got[0][1]))


def test_vitalectl(t):
    """vitalectl token verify: the same engine, exit 0 only when verified."""
    ctl = os.path.join(BUILD, "tools", "vitalectl")
    good = mktoken("valid")["token"]
    bad = mktoken("wrong-holder")["token"]
    base = [ctl, "--json", "token", "verify", "--trust-dir", vpki.trust_dir(),
            "--at", "@%d" % NOW]
    p = subprocess.run(base + [good], capture_output=True, text=True, timeout=60)
    res = json.loads(p.stdout)
    t.eq((p.returncode, res["status"], res.get("form")), (0, "verified", "phone-qr"),
         "vitalectl verifies a token given as a string")
    def from_file(text):
        """(exit status, verdict) of vitalectl --file on a file holding text."""
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write(text)
            f.flush()
            p = subprocess.run(base + ["--file", f.name], capture_output=True, text=True,
                               timeout=60)
        return p.returncode, json.loads(p.stdout)["status"]

    t.eq(from_file(bad + "\r\n"), (1, "forged"),
         "vitalectl --file (line end stripped): forged, exit 1")
    # doc/vitalectl.md: --file strips the trailing CR/LF, a STRING is taken as given
    # (vitalectl keeps no replay cache: the same token verifies again)
    for text, what in ((good + "\n", "a STRING ending in LF"),
                       (good[:40] + "\n" + good[40:], "a STRING with LF inside")):
        p = subprocess.run(base + [text], capture_output=True, text=True, timeout=60)
        t.eq((p.returncode, json.loads(p.stdout)["status"]), (1, "malformed"),
             "vitalectl: %s is malformed (nothing stripped)" % what)
    t.eq(from_file(good + " \n"), (1, "malformed"),
         "vitalectl --file: a space before the line end is kept (malformed)")
    t.eq(from_file(good + "\n\r\n\n"), (0, "verified"),
         "vitalectl --file: every trailing CR and LF stripped")
    p = subprocess.run(base + [good, "--file", "/dev/null"], capture_output=True,
                       text=True, timeout=60)
    t.eq(p.returncode, 2, "a string and --file together is a usage error")
    p = subprocess.run([ctl, "token", "verify", "--at", "yesterday", good],
                       capture_output=True, text=True, timeout=60)
    t.eq(p.returncode, 2, "an unreadable --at is a usage error")
    # --at: ISO 8601 with a fraction (as in the EU DCC vectors); no zone is UTC, whatever
    # the local zone (9 h off here: read as local time the token would not be valid yet).
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW))
    tokyo = dict(os.environ, TZ="Asia/Tokyo")
    for at, want in ((iso + ".670297", "verified"), (iso, "verified"),
                     (iso + ".5Z", "verified"),
                     (time.strftime("%Y-%m-%dT%H:%M:%S+09:00", time.gmtime(NOW + 9 * 3600)),
                      "verified"),
                     (time.strftime("%Y-%m-%dT%H:%M:%S.25", time.gmtime(NOW + 600)), "expired")):
        p = subprocess.run([ctl, "--json", "token", "verify", "--trust-dir", vpki.trust_dir(),
                            "--at", at, good], capture_output=True, text=True, timeout=60,
                           env=tokyo)
        t.eq((p.returncode, p.stdout and json.loads(p.stdout)["status"]),
             (0 if want == "verified" else 1, want), "--at %s (TZ=Asia/Tokyo): %s" % (at, want))
    for at in (iso + ".", iso + "+9", iso[:18] + " 0", iso.replace("-01-", "-1-")):
        p = subprocess.run([ctl, "token", "verify", "--at", at, good],
                           capture_output=True, text=True, timeout=60)
        t.eq(p.returncode, 2, "--at %r is refused" % at)
    # A FIFO (or device) named as a file or an image is refused at once, never waited on.
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        for opt in ("--file", "--image"):
            p = subprocess.run([ctl, "token", "verify", opt, fifo], capture_output=True,
                               text=True, timeout=60)
            t.ok(p.returncode != 0 and "not a regular file" in p.stderr,
                 "%s FIFO: refused as not a regular file" % opt, (p.returncode, p.stderr))
        p = subprocess.run([ctl, "token", "verify", "--cert", fifo, "HC1:X"],
                           capture_output=True, text=True, timeout=60)
        t.ok(p.returncode != 0 and "not a regular file" in p.stderr,
             "--cert FIFO: refused as not a regular file", (p.returncode, p.stderr))


def test_vitalectl_settings(t):
    """vitalectl token verify judges with the daemon's [Tokens] settings."""
    ctl = os.path.join(BUILD, "tools", "vitalectl")
    early = mktoken("valid", now=NOW + 45)["token"]     # issued 45 s ahead of NOW
    good = mktoken("valid")["token"]                    # a 60 s presentation

    def status(conf, *args):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write(conf)
            f.flush()
            p = subprocess.run([ctl, "--json", "--config", f.name, "token", "verify",
                                "--trust-dir", vpki.trust_dir(), "--at", "@%d" % NOW]
                               + list(args), capture_output=True, text=True, timeout=60)
        return json.loads(p.stdout)["status"]
    t.eq(status("", early), "not-yet-valid",
         "45 s ahead is past the default skew of 30 s, as in the daemon")
    t.eq(status("[Tokens]\nClockSkew = 60\n", early), "verified",
         "[Tokens] ClockSkew = 60 from the config is applied")
    t.eq(status("[Tokens]\nMaxAge = 30\n", good), "expired",
         "[Tokens] MaxAge = 30 from the config refuses a 60 s presentation")
    t.eq(status("[Tokens]\nMaxAge = 30\n", "--max-age", "120", good), "verified",
         "--max-age overrides the config")


def main():
    t = Tap()
    if not os.access(CHECK, os.X_OK):
        t.bail("%s not built" % CHECK)
    t.run(test_variants)
    t.run(test_replay_restart)
    t.run(test_replay_corrupt)
    t.run(crafted)
    t.run(test_vitalectl)
    t.run(test_vitalectl_settings)
    t.done()


if __name__ == "__main__":
    main()
