#!/usr/bin/python3
"""mktoken.py: QR tokens of the vitaled open profile (doc/formats.md), test side.

  mktoken.py --pki DIR [--family NAME] [--variant NAME] [--now T] [--iat T]
             [--ttl S] [--cti HEX] [--marker M] [--png FILE] [--pgm FILE] [--json]

Prints the token text ("VT1:" + base45(zlib(COSE_Sign1))). Times are Unix
seconds; tests pass --now (and --iat) so they control the clock. --json
prints {"token", "tokens", "cti", "iat", "exp", "verdict", "variant"}.
`--list` prints every variant with the verdict a reader gives at --now.
The "replayed" variant prints two tokens (one per line) sharing one cti:
the first verifies, the second is a replay.

Independent of the daemon's code: CBOR by python3-cbor2, signatures by
python3-cryptography, zlib by Python, base45 here (RFC 9285).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import zlib

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emu"))
import openprofile as op  # noqa: E402

PREFIX = "VT1:"
ALG_ES256, ALG_PS256 = -7, -37
CWT_ISS, CWT_EXP, CWT_IAT, CWT_CNF, CWT_CTI = 1, 4, 6, 8, 7
CLAIM_DGS = -65537
CLAIM_DOCUMENT = -65538
COSE_SIGN1_TAG = 18
MAX_TEXT = 4296          # longest token text a reader accepts (QR 40-L, alphanumeric)
MAX_QR_Q = 2420          # longest token text an issuer may make (QR 40-Q, alphanumeric)
DOC_LIFETIME = 30 * 86400
DEFAULT_TTL = 60          # presentation lifetime (policy max 120)

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def b45encode(data):
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = divmod(n, 45 * 45)
        e, d = divmod(n, 45)
        out += [B45[d], B45[e], B45[c]]
    if len(data) % 2:
        e, d = divmod(data[-1], 45)
        out += [B45[d], B45[e]]
    return "".join(out)


def b45decode(text):
    """Strict decoder (used by the tests to check what they generated)."""
    vals = [B45.index(ch) for ch in text]  # ValueError on a foreign character
    if len(vals) % 3 == 1:
        raise ValueError("base45 length")
    out = bytearray()
    for i in range(0, len(vals), 3):
        chunk = vals[i:i + 3]
        n = sum(v * 45 ** k for k, v in enumerate(chunk))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise ValueError("base45 chunk")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise ValueError("base45 pair")
            out.append(n)
    return bytes(out)


# --- keys and signatures -----------------------------------------------------

def load_key(pki, name):
    with open(os.path.join(pki, "private", name + ".key"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def kid_of(pki, signer):
    with open(os.path.join(pki, "private", signer + ".pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()[:8]


def cose_key(key):
    pub = key.public_key().public_numbers()
    return {1: 2, -1: 1, -2: pub.x.to_bytes(32, "big"), -3: pub.y.to_bytes(32, "big")}


def sign(key, alg, data):
    if alg == ALG_ES256:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    hashes.SHA256())


def cose_sign1(key, alg, protected_map, payload, tagged=True):
    protected = cbor2.dumps(protected_map)
    sig_structure = cbor2.dumps(["Signature1", protected, b"", payload])
    msg = [protected, {}, payload, sign(key, alg, sig_structure)]
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, msg) if tagged else msg)


# --- the token ---------------------------------------------------------------

def issuer_document(fam, pki, signer, holder, now, marker=None, serial=None,
                    doc_iat=None, doc_exp=None, corrupt=False):
    """Inner COSE_Sign1 signed by the document signer (kid = its certificate)."""
    key = load_key(pki, signer)
    alg = ALG_PS256 if isinstance(key, rsa.RSAPrivateKey) else ALG_ES256
    dgs = {1: op.dg1(fam, "phone", marker, serial), 2: op.dg2(fam)}
    if op.has_amo(fam):
        dgs[3] = op.dg3(fam)
    if op.has_amc(fam):
        dgs[4] = op.dg4(fam)
    iat = now - 86400 if doc_iat is None else doc_iat
    claims = {CWT_ISS: "FR", CWT_IAT: iat,
              CWT_EXP: iat + DOC_LIFETIME if doc_exp is None else doc_exp,
              CWT_CNF: {1: cose_key(holder)}, CLAIM_DGS: dgs}
    doc = cose_sign1(key, alg, {1: alg, 4: kid_of(pki, signer)}, cbor2.dumps(claims))
    if corrupt:  # flip one bit of the signature (its last byte)
        doc = doc[:-1] + bytes([doc[-1] ^ 1])
    return doc


def presentation(document, holder, iat, exp, cti, extra=None, tagged=True):
    claims = {CWT_IAT: iat, CWT_EXP: exp, CWT_CTI: cti, CLAIM_DOCUMENT: document}
    claims.update(extra or {})
    return cose_sign1(holder, ALG_ES256, {1: ALG_ES256}, cbor2.dumps(claims), tagged)


def envelope(cose, prefix=PREFIX):
    return prefix + b45encode(zlib.compress(cose, 9))


# variant -> (options, verdict at --now). Options: signer, holder (key in cnf),
# presenter (key signing the presentation), marker, serial, iat/exp offsets, ...
VARIANTS = {
    "valid": ({}, "verified"),
    "valid-ps256": ({"signer": "ds-ps256"}, "verified"),
    "untagged": ({"tagged": False}, "verified"),
    "expired": ({"iat": -600}, "expired"),
    "notyet": ({"iat": +600}, "not-yet-valid"),
    "long-lived": ({"ttl": 3600}, "expired"),
    "doc-expired": ({"doc_iat": -400 * 86400, "doc_exp": -86400}, "expired"),
    "doc-notyet": ({"doc_iat": 86400, "doc_exp": 400 * 86400}, "not-yet-valid"),
    "signer-expired": ({"signer": "ds-expired"}, "expired"),
    "signer-notyet": ({"signer": "ds-notyet"}, "not-yet-valid"),
    "revoked": ({"signer": "ds-revoked"}, "revoked"),
    "untrusted": ({"signer": "ds-foreign"}, "untrusted"),
    "replayed": ({"count": 2}, "replayed"),
    "wrong-holder": ({"presenter": "holder-2"}, "forged"),
    "forged-document": ({"corrupt": True}, "forged"),
    "test-marker": ({"marker": "test"}, "test-card"),
    "opposed": ({"serial": "VTP0000009999"}, "opposed"),
    "oversized": ({"pad": 4000}, "malformed"),
    "zlib-bomb": ({"bomb": 1 << 20}, "malformed"),
    "bad-cbor": ({"bad_cbor": True}, "malformed"),
    "bad-base45": ({"b45": "char"}, "malformed"),
    "bad-base45-length": ({"b45": "length"}, "malformed"),
    "bad-base45-range": ({"b45": "range"}, "malformed"),
    "wrong-prefix": ({"prefix": "VT2:"}, "unsupported"),
}


def make(pki, fam, variant="valid", now=None, iat=None, ttl=None, cti=None, marker=None):
    """Return (list of token texts, info dict). marker overrides the family's
    (e.g. "demo" for tokens of the demo PKI)."""
    o, verdict = VARIANTS[variant]
    if marker:
        o = dict(o, marker=marker)
        if marker != "production" and verdict == "verified":
            verdict = "test-card"
    now = int(time.time()) if now is None else now
    iat = now + o.get("iat", 0) if iat is None else iat
    ttl = o.get("ttl", DEFAULT_TTL) if ttl is None else ttl
    cti = os.urandom(16) if cti is None else cti
    holder = load_key(pki, "holder-1")
    presenter = load_key(pki, o.get("presenter", "holder-1"))
    rel = lambda k: None if k not in o else now + o[k]  # noqa: E731
    doc = issuer_document(fam, pki, o.get("signer", "ds-es256"), holder, now,
                          o.get("marker"), o.get("serial"), rel("doc_iat"), rel("doc_exp"),
                          o.get("corrupt", False))
    extra = {}
    if "pad" in o:  # incompressible ignorable claim: the text outgrows MAX_TEXT
        extra[-65539] = os.urandom(o["pad"])
    texts = []
    for i in range(o.get("count", 1)):
        cose = presentation(doc, presenter, iat + i, iat + i + ttl, cti, extra,
                            o.get("tagged", True))
        if o.get("bad_cbor"):
            cose = cose[:-20]
        if "bomb" in o:
            # A presentation whose payload inflates to o["bomb"] bytes.
            cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [
                cbor2.dumps({1: ALG_ES256}), {}, bytes(o["bomb"]), bytes(64)]))
        text = envelope(cose, o.get("prefix", PREFIX))
        b45 = o.get("b45")
        if b45 == "char":
            text = text[:10] + "#" + text[11:]
        elif b45 == "length":
            while (len(text) - len(PREFIX)) % 3 != 1:
                text += "0"
        elif b45 == "range":
            text = text[:len(PREFIX)] + ":::" + text[len(PREFIX) + 3:]  # 45^3-1 > 0xFFFF
        texts.append(text)
    info = {"variant": variant, "verdict": verdict, "cti": cti.hex(), "now": now,
            "iat": iat, "exp": iat + ttl, "token": texts[0], "tokens": texts}
    return texts, info


# --- images ------------------------------------------------------------------

def qr_matrix(text, level="Q"):
    """Modules of the QR symbol qrencode makes (list of rows of 0/1), no margin."""
    r = subprocess.run(["qrencode", "-l", level, "-m", "0", "-t", "ASCII", "-o", "-", text],
                       capture_output=True, check=True)
    rows = [ln[::2] for ln in r.stdout.decode().splitlines() if ln]
    return [[1 if c == "#" else 0 for c in row] for row in rows]


def qr_version(text, level="Q"):
    return (len(qr_matrix(text, level)) - 17) // 4


def write_png(text, path, level="Q", scale=4):
    subprocess.run(["qrencode", "-l", level, "-s", str(scale), "-m", "4", "-o", path, text],
                   check=True)


def write_pgm(text, path, level="Q", scale=4, margin=4):
    """8-bit binary PGM (P5): black modules 0, white 255."""
    m = qr_matrix(text, level)
    n = (len(m) + 2 * margin) * scale
    img = bytearray(b"\xff" * (n * n))
    for y, row in enumerate(m):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    o = ((y + margin) * scale + dy) * n + (x + margin) * scale
                    img[o:o + scale] = bytes(scale)
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (n, n) + bytes(img))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pki", help="directory made by tests/pki/mkpki.sh")
    ap.add_argument("--family", default="reference")
    ap.add_argument("--variant", default="valid")
    ap.add_argument("--now", type=int, help="Unix time the verifier will use (default: now)")
    ap.add_argument("--iat", type=int, help="presentation iat (default: from --now and variant)")
    ap.add_argument("--ttl", type=int, help="presentation exp - iat (default %d)" % DEFAULT_TTL)
    ap.add_argument("--cti", help="presentation unique id, 32 hex digits")
    ap.add_argument("--png")
    ap.add_argument("--pgm")
    ap.add_argument("--marker", choices=op.MARKERS, help="DG1 marker (default: the family's)")
    ap.add_argument("--level", default="Q", choices="LMQH")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print(json.dumps({k: v[1] for k, v in VARIANTS.items()}, indent=1))
        return
    if not a.pki or a.variant not in VARIANTS:
        ap.error("--pki and a known --variant are needed (see --list)")
    fam = op.load_family(op.family_path(a.family))
    texts, info = make(a.pki, fam, a.variant, a.now, a.iat, a.ttl,
                       bytes.fromhex(a.cti) if a.cti else None, a.marker)
    if a.png:
        write_png(texts[0], a.png, a.level)
    if a.pgm:
        write_pgm(texts[0], a.pgm, a.level)
    print(json.dumps(info) if a.json else "\n".join(texts))


if __name__ == "__main__":
    main()
