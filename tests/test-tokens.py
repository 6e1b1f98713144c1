#!/usr/bin/python3
"""Generated QR tokens carry what doc/formats.md says, and decode from images.

Every variant of tests/tokens/mktoken.py is taken apart from the test side
(prefix, strict base45, capped inflate, CBOR, both COSE_Sign1 layers, kid,
signatures, claims) and must be hostile in the documented way; PNG and PGM
images must decode with `zbarimg --nodbus --raw` (QR only) to the same text; the QR
version a family of 6 needs at ECC level Q is measured and printed.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "emu"))
sys.path.insert(0, os.path.join(HERE, "tokens"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.qr import ZBARIMG_QR  # noqa: E402
import openprofile as op  # noqa: E402
import mktoken as mk  # noqa: E402

import cbor2  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

t = Tap()
PKI = vpki.pki_dir()
TRUST = os.path.join(PKI, "trust.d")
NOW = 1790000000  # 2026-09-21T14:13:20Z, inside every valid certificate's life
REF = op.load_family(op.family_path("reference"))
INFLATE_CAP = 64 * 1024


def cert(name):
    with open(os.path.join(PKI, "private", name + ".pem"), "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def der(c):
    return c.public_bytes(serialization.Encoding.DER)


def trusted_kids():
    kids = {}
    for n in os.listdir(TRUST):
        if n.endswith(".pem"):
            with open(os.path.join(TRUST, n), "rb") as f:
                c = x509.load_pem_x509_certificate(f.read())
            kids.setdefault(hashlib.sha256(der(c)).digest()[:8], []).append(n)
    return kids


def inflate_capped(data, cap=INFLATE_CAP):
    d = zlib.decompressobj()
    out = d.decompress(data, cap)
    if d.unconsumed_tail or not d.eof:
        raise ValueError("inflated size above %d bytes" % cap)
    return out


def verify_sig(pub, alg, protected, payload, sig):
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    try:
        if alg == mk.ALG_ES256:
            if len(sig) != 64:
                return False
            d = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            pub.verify(d, tbs, ec.ECDSA(hashes.SHA256()))
        else:
            pub.verify(sig, tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                       hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def cose(data):
    obj = cbor2.loads(data)
    if isinstance(obj, cbor2.CBORTag):
        assert obj.tag == mk.COSE_SIGN1_TAG, "tag %d" % obj.tag
        obj = obj.value
    assert isinstance(obj, list) and len(obj) == 4, "COSE_Sign1 is an array of 4"
    protected, unprotected, payload, sig = obj
    return protected, cbor2.loads(protected), unprotected, payload, sig


def take_apart(text):
    """Everything a reader of the document would see, checked step by step."""
    assert text.startswith(mk.PREFIX), "prefix"
    assert len(text) <= mk.MAX_TEXT, "text longer than %d" % mk.MAX_TEXT
    raw = inflate_capped(mk.b45decode(text[len(mk.PREFIX):]))
    o_prot, o_hdr, _, o_payload, o_sig = cose(raw)
    outer = cbor2.loads(o_payload)
    i_prot, i_hdr, _, i_payload, i_sig = cose(outer[mk.CLAIM_DOCUMENT])
    inner = cbor2.loads(i_payload)
    k = inner[mk.CWT_CNF][1]
    holder = ec.EllipticCurvePublicNumbers(int.from_bytes(k[-2], "big"), int.from_bytes(k[-3], "big"),
                                           ec.SECP256R1()).public_key()
    return {"raw": raw, "o_hdr": o_hdr, "outer": outer, "i_hdr": i_hdr, "inner": inner,
            "cose_key": k, "o_ok": verify_sig(holder, o_hdr[1], o_prot, o_payload, o_sig),
            "i_args": (i_hdr[1], i_prot, i_payload, i_sig), "tagged": cbor2.loads(raw)}


def inner_ok(d, signer):
    return verify_sig(cert(signer).public_key(), *d["i_args"])


def chain_error(signer, at):
    """openssl verify of a signer certificate at time `at` against trust.d."""
    r = subprocess.run(["openssl", "verify", "-attime", str(at), "-CAfile",
                        os.path.join(TRUST, "root.pem"), "-CRLfile", os.path.join(TRUST, "root.crl"),
                        "-crl_check", os.path.join(PKI, "private", signer + ".pem")],
                       capture_output=True, text=True)
    return "" if r.returncode == 0 else r.stdout + r.stderr


def make(variant, family=REF):
    return mk.make(PKI, family, variant, now=NOW)


def test_base45(t):
    for plain, enc in ((b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
                       (b"ietf!", "QED8WEX0")):
        t.eq(mk.b45encode(plain), enc, "base45 RFC 9285 vector %r" % plain)
        t.eq(mk.b45decode(enc), plain, "base45 decodes %r" % enc)
    for bad, why in (("GGW", "chunk > 0xFFFF"), ("A", "length 1 mod 3"), ("aB8", "lower case"),
                     (":::", "chunk > 0xFFFF")):
        try:
            mk.b45decode(bad)
            t.ok(False, "base45 refuses %s" % why)
        except ValueError:
            t.ok(True, "base45 refuses %s" % why)


def test_valid(t):
    for variant, signer, alg in (("valid", "ds-es256", mk.ALG_ES256),
                                 ("valid-ps256", "ds-ps256", mk.ALG_PS256)):
        texts, info = make(variant)
        d = take_apart(texts[0])
        n = variant + ": "
        t.ok(isinstance(d["tagged"], cbor2.CBORTag) and d["tagged"].tag == 18,
             n + "outer COSE_Sign1 carries tag 18")
        t.eq(d["o_hdr"], {1: mk.ALG_ES256}, n + "outer protected header {1: -7}")
        t.eq(sorted(d["outer"]), sorted([mk.CWT_IAT, mk.CWT_EXP, mk.CWT_CTI, mk.CLAIM_DOCUMENT]),
             n + "outer claims 6, 4, 7, -65538")
        t.ok(isinstance(d["outer"][mk.CWT_CTI], bytes) and len(d["outer"][mk.CWT_CTI]) == 16,
             n + "cti is a 16-byte bstr")
        t.eq((d["outer"][mk.CWT_IAT], d["outer"][mk.CWT_EXP]), (NOW, NOW + mk.DEFAULT_TTL),
             n + "presentation iat = now, exp = iat + 60")
        kid = hashlib.sha256(der(cert(signer))).digest()[:8]
        t.eq(d["i_hdr"], {1: alg, 4: kid}, n + "inner protected {1: alg, 4: kid of the signer}")
        t.ok(trusted_kids().get(kid) == [signer + ".pem"], n + "kid found in trust.d")
        t.ok(inner_ok(d, signer), n + "issuer signature verifies with the signer certificate")
        t.eq(chain_error(signer, NOW), "", n + "signer chains to the root at now")
        inner = d["inner"]
        t.eq(inner[mk.CWT_ISS], "FR", n + "iss FR")
        t.ok(inner[mk.CWT_IAT] <= NOW < inner[mk.CWT_EXP], n + "document valid at now")
        holder = mk.load_key(PKI, "holder-1")
        t.eq(d["cose_key"], mk.cose_key(holder), n + "cnf is holder-1's COSE_Key (EC2, P-256)")
        t.ok(d["o_ok"], n + "presentation signature verifies with the cnf key")
        want = {1: op.dg1(REF, "phone"), 2: op.dg2(REF), 3: op.dg3(REF), 4: op.dg4(REF)}
        t.eq(inner[mk.CLAIM_DGS], want, n + "-65537 carries DG1-DG4, same bytes as a chip")
        t.eq(inner[mk.CLAIM_DGS][1][-1], 2, n + "DG1 form factor 02 (phone)")
    texts, _ = make("untagged")
    d = take_apart(texts[0])
    t.ok(isinstance(d["tagged"], list) and d["o_ok"] and inner_ok(d, "ds-es256"),
         "untagged: no tag 18, still valid")


def test_time(t):
    d = take_apart(make("expired")[0][0])
    t.ok(d["outer"][mk.CWT_EXP] < NOW and d["o_ok"], "expired: presentation exp before now")
    d = take_apart(make("notyet")[0][0])
    t.ok(d["outer"][mk.CWT_IAT] > NOW and d["o_ok"], "notyet: presentation iat after now")
    d = take_apart(make("long-lived")[0][0])
    o = d["outer"]
    t.ok(o[mk.CWT_EXP] - o[mk.CWT_IAT] > 120 and o[mk.CWT_IAT] <= NOW <= o[mk.CWT_EXP],
         "long-lived: exp - iat above the 120 s maximum")
    d = take_apart(make("doc-expired")[0][0])
    t.ok(d["inner"][mk.CWT_EXP] < NOW and inner_ok(d, "ds-es256"), "doc-expired: document exp before now")
    d = take_apart(make("doc-notyet")[0][0])
    t.ok(d["inner"][mk.CWT_IAT] > NOW and inner_ok(d, "ds-es256"), "doc-notyet: document iat after now")
    texts, info = mk.make(PKI, REF, "valid", now=NOW, iat=NOW - 30, ttl=90)
    o = take_apart(texts[0])["outer"]
    t.eq((o[mk.CWT_IAT], o[mk.CWT_EXP]), (NOW - 30, NOW + 60), "--iat and --ttl set the presentation times")


def test_signers(t):
    for variant, signer, err in (("signer-expired", "ds-expired", "certificate has expired"),
                                 ("signer-notyet", "ds-notyet", "certificate is not yet valid"),
                                 ("revoked", "ds-revoked", "certificate revoked")):
        d = take_apart(make(variant)[0][0])
        t.ok(inner_ok(d, signer) and d["o_ok"], variant + ": signatures themselves are good")
        e = chain_error(signer, NOW)
        t.ok(err in e, "%s: the signer's chain fails with '%s'" % (variant, err), e)
    d = take_apart(make("untrusted")[0][0])
    t.ok(d["i_hdr"][4] not in trusted_kids(), "untrusted: kid unknown to trust.d")
    t.ok(inner_ok(d, "ds-foreign"), "untrusted: signed by the foreign signer")


def test_forgeries(t):
    texts, info = make("replayed")
    t.eq(len(texts), 2, "replayed: two presentations")
    a, b = take_apart(texts[0]), take_apart(texts[1])
    t.ok(texts[0] != texts[1] and a["outer"][mk.CWT_CTI] == b["outer"][mk.CWT_CTI],
         "replayed: different texts, same cti")
    t.ok(a["o_ok"] and b["o_ok"], "replayed: both are otherwise valid")
    d = take_apart(make("wrong-holder")[0][0])
    t.ok(not d["o_ok"] and inner_ok(d, "ds-es256"), "wrong-holder: outer signature fails with cnf key")
    d = take_apart(make("forged-document")[0][0])
    t.ok(not inner_ok(d, "ds-es256") and d["o_ok"], "forged-document: issuer signature fails")
    d = take_apart(make("test-marker")[0][0])
    t.eq(d["inner"][mk.CLAIM_DGS][1][-4], 1, "test-marker: DG1 marker 01")
    demo = vpki.pki_dir(demo=True)
    texts, info = mk.make(demo, REF, "valid", now=NOW, marker="demo")
    d = take_apart(texts[0])
    with open(os.path.join(demo, "private", "ds-es256.pem"), "rb") as f:
        demo_ds = x509.load_pem_x509_certificate(f.read())
    t.ok(verify_sig(demo_ds.public_key(), *d["i_args"]) and d["o_ok"]
         and d["inner"][mk.CLAIM_DGS][1][-4] == 2 and info["verdict"] == "test-card",
         "demo token: signed by the demo signer, marker 02, verdict test-card")
    d = take_apart(make("opposed")[0][0])
    dg1 = d["inner"][mk.CLAIM_DGS][1]
    assert dg1[2:6] == b"\x80\x01\x01\x81"  # 61 L, version, then the serial
    serial = dg1[7:7 + dg1[6]].decode()
    t.ok(serial in open(os.path.join(TRUST, "opposition.txt")).read().split(),
         "opposed: serial %s is on the opposition list" % serial)


def test_malformed(t):
    text = make("oversized")[0][0]
    t.ok(len(text) > mk.MAX_TEXT, "oversized: %d characters > %d" % (len(text), mk.MAX_TEXT))
    text = make("zlib-bomb")[0][0]
    raw = mk.b45decode(text[4:])
    try:
        inflate_capped(raw)
        t.ok(False, "zlib-bomb: refused by a 64 KiB cap")
    except ValueError:
        t.ok(True, "zlib-bomb: refused by a 64 KiB cap (%d compressed bytes)" % len(raw))
    t.ok(len(zlib.decompress(raw)) > 1 << 20, "zlib-bomb: would inflate past 1 MiB")
    raw = inflate_capped(mk.b45decode(make("bad-cbor")[0][0][4:]))
    try:
        cbor2.loads(raw)
        t.ok(False, "bad-cbor: CBOR is cut")
    except Exception:  # noqa: BLE001 - any decode error is the point
        t.ok(True, "bad-cbor: CBOR is cut")
    for v in ("bad-base45", "bad-base45-length", "bad-base45-range"):
        text = make(v)[0][0]
        try:
            mk.b45decode(text[4:])
            t.ok(False, v + ": strict base45 refuses it")
        except ValueError as e:
            t.ok(True, v + ": strict base45 refuses it (%s)" % e)
    text = make("wrong-prefix")[0][0]
    t.ok(not text.startswith(mk.PREFIX) and text.startswith("VT2:"), "wrong-prefix: VT2:")


def test_cli_and_images(t):
    with tempfile.TemporaryDirectory() as d:
        for fam in ("reference", "six"):
            png, pgm = os.path.join(d, fam + ".png"), os.path.join(d, fam + ".pgm")
            r = subprocess.run([sys.executable, os.path.join(HERE, "tokens", "mktoken.py"), "--pki",
                                PKI, "--family", fam, "--now", str(NOW), "--png", png, "--pgm", pgm],
                               capture_output=True, text=True)
            t.eq(r.returncode, 0, "%s: mktoken.py runs" % fam)
            text = r.stdout.strip()
            t.ok(take_apart(text)["o_ok"], "%s: the printed token is valid" % fam)
            with open(pgm, "rb") as f:
                t.ok(f.read(3) == b"P5\n", "%s: PGM is 8-bit binary (P5)" % fam)
            for img in (png, pgm):
                z = subprocess.run(ZBARIMG_QR + [img], capture_output=True,
                                   text=True)
                t.eq(z.stdout.rstrip("\n"), text, "%s: zbarimg reads %s back" % (fam, img[-3:]))


def test_variant_images(t):
    """Every variant that fits a QR code comes back from its PGM image unchanged."""
    with tempfile.TemporaryDirectory() as d:
        for v in mk.VARIANTS:
            if v == "oversized":
                continue
            text = make(v)[0][0]
            pgm = os.path.join(d, v + ".pgm")
            mk.write_pgm(text, pgm)
            z = subprocess.run(ZBARIMG_QR + [pgm], capture_output=True,
                               text=True)
            t.eq(z.stdout.rstrip("\n"), text, "%s: zbarimg reads the PGM back" % v)


def test_qr_size(t):
    six = op.load_family(op.family_path("six"))
    for variant in ("valid", "valid-ps256"):
        texts = [mk.make(PKI, six, variant, now=NOW)[0][0] for _ in range(8)]
        longest = max(len(x) for x in texts)
        ver = max(mk.qr_version(x, "Q") for x in texts)
        t.diag("family of 6, %s: token up to %d characters, QR version %d at ECC Q"
               % (variant, longest, ver))
        t.ok(longest <= mk.MAX_QR_Q and ver <= 40, "family of 6 (%s) fits a QR code at ECC Q" % variant)


for fn in (test_base45, test_valid, test_time, test_signers, test_forgeries, test_malformed,
           test_cli_and_images, test_variant_images, test_qr_size):
    t.run(fn)
t.done()
