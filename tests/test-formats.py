#!/usr/bin/python3
"""Virtual chips answer as doc/formats.md says (checked from the test side).

Brings up each virtual card and phone (tests/emu/vcard.py) in a private pcscd
and reads it with pyscard as a reader following doc/formats.md would: SELECT
by AID, READ BINARY by SFI with continuation, 61 XX / 6C XX handling, the
EF.SOD through `openssl cms -verify` against the test trust store, every data
group hash, a full Active Authentication against the DG15 key. Each hostile
variant must be hostile in the documented way.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "emu"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402
import openprofile as op  # noqa: E402

from smartcard import scard as S  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402

t = Tap()


class Malformed(Exception):
    pass


# --- a strict BER-TLV reader of the profile's rules (test side) -------------

def parse_tlv(data, depth=1, max_depth=4):
    """[(tag, value, children or None)]; raises Malformed on any rule break."""
    out = []
    i = 0
    if data and depth > max_depth:
        raise Malformed("nesting deeper than %d" % max_depth)
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            if i >= len(data):
                raise Malformed("tag cut")
            tag = (tag << 8) | data[i]
            i += 1
        if i >= len(data):
            raise Malformed("length cut")
        n = data[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            if k == 0 or k > 2 or i + k > len(data):
                raise Malformed("bad length form")
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        if i + n > len(data):
            raise Malformed("value overruns its parent")
        v = bytes(data[i:i + n])
        i += n
        first = tag >> 8 if tag > 0xFF else tag
        kids = None
        if first & 0x20:
            kids = parse_tlv(v, depth + 1, max_depth)
        out.append((tag, v, kids))
    return out


def fields(children):
    """Context children -> {tag: [values or child lists]}, checking the extension rule."""
    d = {}
    for tag, v, kids in children:
        if 0x90 <= tag <= 0x9E or 0xB0 <= tag <= 0xBE:
            continue  # ignorable extension
        if not (0x80 <= tag <= 0x8F or 0xA0 <= tag <= 0xAF):
            raise Malformed("tag %02X not allowed in a template" % tag)
        d.setdefault(tag, []).append(kids if kids is not None else v)
    return d


def dg_body(data, tag):
    top = parse_tlv(data, 1)
    if len(top) != 1 or top[0][0] != tag:
        raise Malformed("file is not one %02X template" % tag)
    return top[0][2]


DG1_TAGS = set(range(0x80, 0x8B))


def decode_dg1(data):
    f = fields(dg_body(data, 0x61))
    unknown = set(f) - DG1_TAGS
    if unknown:
        raise Malformed("critical unknown tag %s" % sorted("%02X" % x for x in unknown))
    if f[0x80][0] != b"\x01":
        raise Malformed("unsupported format version")
    return {"serial": f[0x81][0].decode(), "issuer": f[0x82][0].decode(),
            "regime": f[0x83][0].decode(), "caisse": f[0x84][0].decode(),
            "centre": f[0x85][0].decode(), "code_gestion": f[0x86][0].decode(),
            "valid_from": f[0x87][0].decode(), "valid_until": f[0x88][0].decode(),
            "marker": f[0x89][0][0], "form_factor": f[0x8A][0][0]}


def decode_dg2(data):
    out = []
    for kids in fields(dg_body(data, 0x62)).get(0xA0, []):
        f = fields(kids)
        b = {"index": f[0x80][0][0], "usual_name": f[0x81][0].decode(),
             "first_name": f[0x83][0].decode(), "birth_date": f[0x84][0].decode(),
             "qualite": f[0x86][0].decode()}
        if 0x82 in f:
            b["birth_name"] = f[0x82][0].decode()
        if 0x85 in f:
            b["birth_rank"] = f[0x85][0][0]
        if 0x87 in f:
            b["nir"] = f[0x87][0].decode()
        out.append(b)
    return out


def family_dg2(fam):
    keys = ("index", "usual_name", "first_name", "birth_date", "qualite", "birth_name",
            "birth_rank", "nir")
    return [{k: b[k] for k in keys if k in b} for b in fam["beneficiaries"]]


# --- a reader following the document (pyscard, low level) ------------------

class Reader:
    def __init__(self, h, reader):
        self.h = h
        rv, self.ctx = S.SCardEstablishContext(S.SCARD_SCOPE_USER)
        assert rv == S.SCARD_S_SUCCESS, S.SCardGetErrorMessage(rv)
        rv, self.hc, self.proto = S.SCardConnect(self.ctx, h.readers[reader], S.SCARD_SHARE_SHARED,
                                                 S.SCARD_PROTOCOL_T0 | S.SCARD_PROTOCOL_T1)
        assert rv == S.SCARD_S_SUCCESS, S.SCardGetErrorMessage(rv)
        self.seen = []  # status words as the card first gave them

    def close(self):
        S.SCardDisconnect(self.hc, S.SCARD_LEAVE_CARD)
        S.SCardReleaseContext(self.ctx)

    def raw(self, apdu):
        rv, r = S.SCardTransmit(self.hc, self.proto, list(apdu))
        if rv != S.SCARD_S_SUCCESS:
            raise IOError(S.SCardGetErrorMessage(rv))
        r = bytes(r)
        if len(r) < 2:  # vpcd gives an empty answer when the card went away
            raise IOError("response without status word")
        return r[:-2], r[-2:]

    def tx(self, apdu):
        """Send; follow 6C XX (resend with Le=XX) and 61 XX (GET RESPONSE)."""
        data, sw = self.raw(apdu)
        self.seen.append(sw)
        if sw[0] == 0x6C:
            data, sw = self.raw(bytes(apdu[:-1]) + sw[1:])
        out = data
        while sw[0] == 0x61:
            data, sw = self.raw(b"\x00\xC0\x00\x00" + sw[1:])
            out += data
        return out, sw

    def select(self, aid):
        return self.tx(b"\x00\xA4\x04\x00" + bytes([len(aid)]) + aid + b"\x00")[1]

    def read_file(self, sfi):
        """Whole EF: first chunk by SFI, then by offset until the outer TLV ends."""
        data, sw = self.tx(bytes([0x00, 0xB0, 0x80 | sfi, 0x00, 0x00]))
        if sw != b"\x90\x00":
            return None, sw
        total = tlv_total(data)
        while len(data) < total:
            off = len(data)
            chunk, sw = self.tx(bytes([0x00, 0xB0, off >> 8, off & 0xFF, 0x00]))
            if sw != b"\x90\x00":
                raise Malformed("file shorter than its TLV length (SW %s at %d)" % (sw.hex(), off))
            data += chunk
        return data[:total], sw

    def internal_authenticate(self, challenge):
        return self.tx(b"\x00\x88\x00\x00\x20" + challenge + b"\x00")


def tlv_total(head):
    """Length of the whole file from its outer tag and length (max 8192)."""
    if len(head) < 2:
        raise Malformed("file too short")
    i = 2 if head[0] & 0x1F == 0x1F else 1
    n = head[i]
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 2 or len(head) < i + 1 + k:
            raise Malformed("bad outer length")
        n = int.from_bytes(head[i + 1:i + 1 + k], "big")
        i += k
    total = i + 1 + n
    if total > op.MAX_FILE:
        raise Malformed("declared length %d above the %d-byte cap" % (total, op.MAX_FILE))
    return total


def read_chip(rd, aid):
    """SELECT and read every data group and the SOD: {sfi: bytes}."""
    sw = rd.select(aid)
    if sw != b"\x90\x00":
        raise Malformed("SELECT answered %s" % sw.hex())
    files = {}
    for sfi in op.DG_SFIS + (op.SFI_SOD,):
        data, sw = rd.read_file(sfi)
        if data is not None:
            files[sfi] = data
        elif sw != b"\x6A\x82":
            raise Malformed("READ BINARY SFI %d answered %s" % (sfi, sw.hex()))
    return files


def cms_verify(sod, trust):
    """(ok, error text, eContent) from `openssl cms -verify` against trust.d."""
    cms = strip_outer(sod, 0x77)
    with tempfile.TemporaryDirectory() as d:
        ca = os.path.join(d, "ca.pem")
        with open(ca, "wb") as f:
            for name in ("root.pem", "root.crl"):
                with open(os.path.join(trust, name), "rb") as g:
                    f.write(g.read())
        src = os.path.join(d, "sod.der")
        with open(src, "wb") as f:
            f.write(cms)
        r = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", src,
                            "-CAfile", ca, "-crl_check"], capture_output=True)
        ok = r.returncode == 0
        if not ok:  # the content, without trusting the signer
            r2 = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-binary", "-inform",
                                 "DER", "-in", src], capture_output=True)
            return False, r.stderr.decode(errors="replace"), r2.stdout if r2.returncode == 0 else None
        return True, "", r.stdout


def strip_outer(data, tag):
    if data[0] != tag:
        raise Malformed("outer tag %02X, want %02X" % (data[0], tag))
    n = data[1]
    i = 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[2:2 + k], "big")
        i = 2 + k
    if i + n != len(data):
        raise Malformed("outer length mismatch")
    return data[i:]


def sod_hashes(econtent):
    top = parse_tlv(econtent, 1)
    if len(top) != 1 or top[0][0] != 0x70:
        raise Malformed("eContent is not a 70 template")
    version = oid = None
    hashes_ = {}
    for tag, v, kids in top[0][2]:
        if tag == 0x80:
            version = v
        elif tag == 0x06:
            oid = v
        elif tag == 0xA0:
            g = fields(kids)
            hashes_[g[0x80][0][0]] = g[0x81][0]
    alg = {v: k for k, v in op.HASH_OIDS.items()}.get(oid)
    return version, alg, hashes_


def aa_verify(rd, dg15):
    """Full Active Authentication: random challenge, ECDSA check with DG15's key."""
    challenge = os.urandom(32)
    sig, sw = rd.internal_authenticate(challenge)
    if sw != b"\x90\x00" or len(sig) != 64:
        return False, "SW %s, %d bytes" % (sw.hex(), len(sig))
    key = serialization.load_der_public_key(strip_outer(dg15, 0x6F))
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, challenge, ec.ECDSA(hashes.SHA256()))
        return True, ""
    except InvalidSignature:
        return False, "signature does not verify with the DG15 key"


# --- the checks -------------------------------------------------------------

PKI = vpki.pki_dir()
DEMO = vpki.pki_dir(demo=True)
TRUST = os.path.join(PKI, "trust.d")
REF = op.load_family(op.family_path("reference"))
LEGACY = op.load_family(op.family_path("legacy"))
slot = [0]


def next_reader():
    slot[0] ^= 1
    return slot[0]


def chip_session(h, variant, profile="card", family=None, pki=None):
    r = next_reader()
    card = h.insert(r, profile, variant, family=family, pki=pki)
    return card, Reader(h, r), r


def full_read(t, h, variant, profile="card", family=None, pki=None, trust=TRUST):
    """Read a chip like a reader of the document; return what was seen."""
    card, rd, r = chip_session(h, variant, profile, family, pki)
    aid = op.PHONE_AID if profile == "phone" else op.CARD_AID
    res = {"atr": card.atr, "reader": rd}
    try:
        other = op.CARD_AID if profile == "phone" else op.PHONE_AID
        res["other_sw"] = rd.select(other)
        files = read_chip(rd, aid)
        res["files"] = files
        res["cms_ok"], res["cms_err"], econtent = cms_verify(files[op.SFI_SOD], trust)
        res["version"], res["alg"], res["sod"] = sod_hashes(econtent)
        res["hash_ok"] = {n: res["sod"].get(n) == hashlib.new(res["alg"], files[n]).digest()
                          for n in op.DG_SFIS if n in files}
        if op.SFI_DG15 in files:
            res["aa_ok"], res["aa_err"] = aa_verify(rd, files[op.SFI_DG15])
    except Malformed as e:
        res["malformed"] = str(e)
    return res


def done(h, res):
    res["reader"].close()


def test_pki(t):
    names = sorted(os.listdir(TRUST))
    t.eq(names, ["ds-es256.pem", "ds-expired.pem", "ds-notyet.pem", "ds-ps256.pem",
                 "ds-revoked.pem", "opposition.txt", "root.crl", "root.pem"], "trust.d layout")
    t.ok(not any(n.endswith(".key") for n in names), "no private key in trust.d")
    priv = os.listdir(os.path.join(PKI, "private"))
    for k in ("aa-1.key", "aa-clone.key", "holder-1.key", "foreign-root.pem", "ds-foreign.pem"):
        t.ok(k in priv, "private/%s made" % k)
    t.ok(os.path.exists(os.path.join(DEMO, "trust.d", "root.pem")), "demo PKI made")
    a = open(os.path.join(TRUST, "root.pem")).read()
    b = open(os.path.join(DEMO, "trust.d", "root.pem")).read()
    t.ok(a != b, "demo root differs from the test root")


def utf8_len(s, lo, hi):
    return lo <= len(s.encode("utf-8")) <= hi and "\0" not in s


def ascii_len(s, lo, hi):
    return lo <= len(s) <= hi and all(0x20 <= ord(c) <= 0x7E for c in s)


def digits(s, lo, hi):
    return lo <= len(s) <= hi and s.isdigit() and s.isascii()


def limit_errors(fam):
    """Fields outside the limits of doc/formats.md section 3 (a family file
    that breaks them would make cards a reader must call malformed)."""
    c = fam["card"]
    checks = [(ascii_len(c["serial"]["card"], 1, 20) and ascii_len(c["serial"]["phone"], 1, 20), "serial"),
              (utf8_len(c["issuer"], 1, 32), "issuer"), (digits(c["regime"], 2, 2), "regime"),
              (digits(c["caisse"], 3, 3), "caisse"), (digits(c["centre"], 4, 4), "centre"),
              (digits(c["code_gestion"], 2, 2), "code gestion")]
    for b in fam["beneficiaries"]:
        checks += [(0 <= b["index"] <= 11, "index"), (utf8_len(b["usual_name"], 1, 64), "usual name"),
                   (utf8_len(b.get("birth_name", ""), 0, 64), "birth name"),
                   (utf8_len(b["first_name"], 1, 64), "first name"), (digits(b["qualite"], 2, 2), "qualite")]
        amo = b.get("amo", {})
        for k in ("rights", "coverage", "c2s"):
            checks.append((len(amo.get(k, [])) <= 8, k))
        for cov in amo.get("coverage", []):
            checks += [(ascii_len(cov.get("exemption", "x"), 1, 4), "exemption"),
                       (ascii_len(cov.get("situation", "x"), 1, 4), "situation")]
        checks.append((len(b.get("amc", [])) <= 2, "amc count"))
        for a in b.get("amc", []):
            checks += [(digits(a["organisation"], 1, 10), "organisation"),
                       (ascii_len(a["member"], 1, 20), "member"),
                       (ascii_len(a["guarantee"], 1, 8), "guarantee"),
                       (ascii_len(a["routing"], 1, 8), "routing")]
    idx = [b["index"] for b in fam["beneficiaries"]]
    checks.append((len(set(idx)) == len(idx), "unique indexes"))
    return [what for ok, what in checks if not ok]


def test_doc_lists_variants(t):
    """Every virtual chip and token variant is in doc/formats.md section 13."""
    sys.path.insert(0, os.path.join(HERE, "tokens"))
    import vcard
    import mktoken
    doc = open(os.path.join(HERE, "..", "doc", "formats.md"), encoding="utf-8").read()
    sec = doc[doc.index("## 13."):]
    for names, what in ((vcard.VARIANTS, "chip"), (mktoken.VARIANTS, "token")):
        missing = [n for n in names if n not in sec]
        t.eq(missing, [], "doc/formats.md lists every %s variant" % what)
    for v, (_, _, verdict) in vcard.VARIANTS.items():
        row = [ln for ln in sec.splitlines() if ln.startswith("|") and v in ln.split("|")[1]]
        t.ok(row and verdict in row[0].split("|")[-2],
             "doc gives chip variant %s the verdict %s" % (v, verdict), row)


def test_families(t):
    for name in ("reference", "six", "single"):
        fam = op.load_family(op.family_path(name))
        t.eq(limit_errors(fam), [], "%s: every field within the document's limits" % name)
        nirs = [b["nir"] for b in fam["beneficiaries"] if "nir" in b]
        t.ok(all(op.nir_ok(n) for n in nirs), "%s: every NIR key is right" % name)
        t.ok(len(fam["beneficiaries"]) <= 12, "%s: at most 12 beneficiaries" % name)
    t.ok(op.nir_ok(LEGACY["legacy"]["nir"]), "legacy NIR key is right")
    t.eq(len(op.load_family(op.family_path("six"))["beneficiaries"]), 6, "six has 6 people")


def check_reference(t, res, what, fam=REF, form_factor=1, alg="sha256"):
    if not t.ok("malformed" not in res, what + ": reads without error", res.get("malformed")):
        return
    f = res["files"]
    t.eq(res["other_sw"], b"\x6A\x82", what + ": other profile's AID answers 6A 82")
    t.eq(sorted(f), [1, 2, 3, 4, 15, 29], what + ": DG1-4, DG15 and SOD present")
    t.ok(res["cms_ok"], what + ": openssl cms -verify accepts the SOD", res["cms_err"])
    t.eq((res["version"], res["alg"]), (b"\x01", alg), what + ": SOD version 1, hash " + alg)
    t.eq(sorted(res["sod"]), [1, 2, 3, 4, 15], what + ": SOD lists DG1-4 and DG15")
    t.ok(all(res["hash_ok"].values()), what + ": every DG hash matches", res["hash_ok"])
    t.ok(res.get("aa_ok"), what + ": Active Authentication verifies with DG15", res.get("aa_err"))
    dg1 = decode_dg1(f[1])
    c = fam["card"]
    t.eq((dg1["serial"], dg1["regime"], dg1["caisse"], dg1["centre"], dg1["form_factor"],
          dg1["marker"]),
         (c["serial"]["card" if form_factor == 1 else "phone"], c["regime"], c["caisse"],
          c["centre"], form_factor, 0), what + ": DG1 carries the family's card data")
    t.eq(decode_dg2(f[2]), family_dg2(fam), what + ": DG2 carries the family's beneficiaries")
    t.eq(f[3], op.dg3(fam), what + ": DG3 is the family's AMO rights")
    t.eq(f[4], op.dg4(fam), what + ": DG4 is the family's AMC contracts")


def test_reference_card(t, h):
    res = full_read(t, h, "reference")
    t.eq(res["atr"], op.CARD_ATR, "reference card: ATR")
    t.eq(res["reader"].proto, S.SCARD_PROTOCOL_T1, "reference card: T=1")
    check_reference(t, res, "reference card")
    rd = res["reader"]
    # Status words the document promises.
    t.eq(rd.raw(b"\x00\xB0\x85\x00\x00")[1], b"\x6A\x82", "absent SFI: 6A 82")
    t.eq(rd.raw(b"\x00\xB0\x81\xF0\x00")[1], b"\x6B\x00", "offset beyond the end: 6B 00")
    t.eq(rd.raw(b"\x00\x88\x00\x00\x10" + bytes(16) + b"\x00")[1], b"\x67\x00",
         "INTERNAL AUTHENTICATE with Lc != 32: 67 00")
    t.eq(rd.raw(b"\x00\xCA\x01\x01\x00")[1], b"\x6D\x00", "unknown INS: 6D 00")
    t.eq(rd.raw(b"\x80\xB0\x81\x00\x00")[1], b"\x6E\x00", "unknown CLA: 6E 00")
    d1, sw = rd.raw(b"\x00\xB0\x81\x00\x00")
    d2, sw2 = rd.raw(b"\x00\xB0\x00\x10\x00")
    t.ok(sw2 == b"\x90\x00" and d2 == d1[0x10:], "offset read continues in the current EF")
    s1, _ = rd.internal_authenticate(os.urandom(32))
    s2, _ = rd.internal_authenticate(os.urandom(32))
    t.ok(s1 != s2, "each challenge gets its own signature")
    done(h, res)
    # DG2 of the family of 6 is longer than one READ BINARY (256 bytes).
    six = op.load_family(op.family_path("six"))
    res = full_read(t, h, "reference", family="six")
    t.ok(len(res["files"][2]) > 256, "six: DG2 spans several READ BINARY (%d bytes)"
         % len(res["files"][2]))
    check_reference(t, res, "family of six", fam=six)
    done(h, res)


def test_phone(t, h):
    res = full_read(t, h, "reference", profile="phone")
    t.eq(res["atr"], op.PHONE_ATR, "phone: PC/SC contactless ATR")
    check_reference(t, res, "phone", form_factor=2)
    uid, sw = res["reader"].raw(b"\xFF\xCA\x00\x00\x00")
    t.ok(sw == b"\x90\x00" and len(uid) == 4, "phone: FF CA gives a 4-byte UID")
    done(h, res)


def test_phone_variants(t, h):
    res = full_read(t, h, "clone", profile="phone")
    t.ok(res.get("cms_ok") and res.get("aa_ok") is False, "phone clone: genuine data, AA fails")
    done(h, res)
    res = full_read(t, h, "opposed", profile="phone")
    dg1 = decode_dg1(res["files"][1])
    t.eq((dg1["serial"], dg1["form_factor"]), ("VTP0000009999", 2), "phone opposed: its serial")
    done(h, res)
    res = full_read(t, h, "wrong-hash", profile="phone")
    t.eq(res["hash_ok"].get(2), False, "phone wrong-hash: DG2 hash mismatch")
    done(h, res)


def test_good_variants(t, h):
    for variant, alg in (("ps256", "sha256"), ("sha384", "sha384"), ("sha512", "sha512"),
                         ("sw61", "sha256"), ("sw6c", "sha256"), ("slow", "sha256")):
        res = full_read(t, h, variant)
        check_reference(t, res, variant, alg=alg)
        if variant == "sw61":
            seen = res["reader"].seen
            t.ok(any(sw[0] == 0x61 for sw in seen) and seen.count(b"\x90\x00") == 1,
                 "sw61: all data comes by 61 XX (only SELECT answers 90 00)")
        if variant == "sw6c":
            t.ok(any(sw[0] == 0x6C for sw in res["reader"].seen), "sw6c: card asked 6C XX")
        done(h, res)
    res = full_read(t, h, "t0")
    t.eq(res["atr"], op.CARD_ATR_T0, "t0: T=0 ATR")
    t.eq(res["reader"].proto, S.SCARD_PROTOCOL_T0, "t0: pcscd uses T=0")
    check_reference(t, res, "t0")
    rd = res["reader"]
    t.eq(rd.raw(b"\x00\xB0\x81\x00\x00")[1][:1], b"\x6C", "t0: READ BINARY with Le=00 gets 6C XX")
    data, sw = rd.raw(b"\x00\x88\x00\x00\x20" + bytes(32) + b"\x00")
    t.eq((data, sw), (b"", b"\x61\x40"), "t0: INTERNAL AUTHENTICATE answers 61 40")
    done(h, res)
    res = full_read(t, h, "ext-ignorable")
    t.ok(res.get("cms_ok") and all(res["hash_ok"].values()), "ext-ignorable: signed and intact")
    f = parse_tlv(res["files"][1])[0][2]
    t.ok({0x9E, 0xBE} <= {x[0] for x in f}, "ext-ignorable: DG1 carries tags 9E and BE")
    t.eq(decode_dg1(res["files"][1])["serial"], REF["card"]["serial"]["card"],
         "ext-ignorable: a reader skipping them gets the data")
    done(h, res)


def test_untrusted_signers(t, h):
    for variant, err in (("untrusted", "unable to get local issuer certificate"),
                         ("expired", "certificate has expired"),
                         ("notyet", "certificate is not yet valid"),
                         ("revoked", "certificate revoked")):
        res = full_read(t, h, variant)
        t.ok(not res.get("cms_ok"), "%s: openssl cms -verify refuses the SOD" % variant)
        t.ok(err in res.get("cms_err", ""), "%s: because '%s'" % (variant, err), res.get("cms_err"))
        t.ok(res.get("hash_ok") and all(res["hash_ok"].values()),
             "%s: otherwise intact (hashes match)" % variant)
        t.ok(res.get("aa_ok"), "%s: Active Authentication still fine" % variant)
        done(h, res)


def test_forged(t, h):
    res = full_read(t, h, "wrong-hash")
    t.ok(res.get("cms_ok"), "wrong-hash: SOD itself verifies", res.get("cms_err"))
    t.eq(res["hash_ok"], {1: True, 2: False, 3: True, 4: True, 15: True},
         "wrong-hash: only DG2's hash mismatches")
    done(h, res)
    res = full_read(t, h, "dg-unlisted")
    t.ok(res.get("cms_ok") and 4 in res["files"] and 4 not in res["sod"],
         "dg-unlisted: DG4 on the chip, not in the signed SOD")
    done(h, res)
    res = full_read(t, h, "clone")
    t.ok(res.get("cms_ok") and all(res["hash_ok"].values()), "clone: data and SOD genuine")
    t.ok(res.get("aa_ok") is False, "clone: Active Authentication fails", res.get("aa_err"))
    done(h, res)


def test_policy_variants(t, h):
    res = full_read(t, h, "opposed")
    serial = decode_dg1(res["files"][1])["serial"]
    listed = open(os.path.join(TRUST, "opposition.txt")).read().split()
    t.ok(res.get("cms_ok") and res.get("aa_ok"), "opposed: genuine card")
    t.ok(serial in listed, "opposed: serial %s is on the opposition list" % serial)
    done(h, res)
    res = full_read(t, h, "test-marker")
    t.ok(res.get("cms_ok") and res.get("aa_ok"), "test-marker: genuine card")
    t.eq(decode_dg1(res["files"][1])["marker"], 1, "test-marker: DG1 marker 01 (test)")
    done(h, res)
    res = full_read(t, h, "demo", pki=DEMO, trust=os.path.join(DEMO, "trust.d"))
    t.ok(res.get("cms_ok") and res.get("aa_ok"), "demo: verifies against the demo root")
    t.eq(decode_dg1(res["files"][1])["marker"], 2, "demo: DG1 marker 02 (demo)")
    ok, err, _ = cms_verify(res["files"][op.SFI_SOD], TRUST)
    t.ok(not ok, "demo: not trusted by the test root")
    done(h, res)


def test_malformed(t, h):
    expect = {
        "tlv-truncated": "shorter than its TLV length",
        "tlv-overlong": "above the 8192-byte cap",
        "tlv-inner-overrun": "overruns its parent",
        "nest-bomb": "nesting deeper than 4",
        "nest-depth5": "nesting deeper than 4",
        "nest-leaf5": "nesting deeper than 4",
        "version2": "unsupported format version",
        "ext-critical": "critical unknown tag",
    }
    for variant, why in expect.items():
        res = full_read(t, h, variant)
        err = res.get("malformed")
        if err is None:
            try:
                decode_dg1(res["files"][1])
                decode_dg2(res["files"][2])
                if 3 in res["files"]:
                    parse_tlv(res["files"][3])
            except Malformed as e:
                err = str(e)
        t.ok(err and why in err, "%s: malformed (%s)" % (variant, why), err)
        done(h, res)
    res = full_read(t, h, "no-dg15")
    t.ok(15 not in res["files"] and 15 not in res["sod"], "no-dg15: no DG15 (6A 82), none in SOD")
    done(h, res)


def test_broken_cards(t, h):
    r = next_reader()
    card = h.insert(r, "card", "vanish")
    rd = Reader(h, r)
    t.eq(rd.select(op.CARD_AID), b"\x90\x00", "vanish: SELECT works")
    rd.raw(b"\x00\xB0\x81\x00\x00")
    rd.raw(b"\x00\xB0\x82\x00\x00")
    try:
        rd.raw(b"\x00\xB0\x83\x00\x00")
        gone = False
    except IOError:
        gone = True
    t.ok(gone, "vanish: the 4th APDU fails (card gone)")
    t.ok(h.wait(r, False), "vanish: reader shows EMPTY")
    card.proc.wait(timeout=10)
    rd.close()
    h.remove(r)

    r = next_reader()
    h.insert(r, "card", "random")
    rd = Reader(h, r)
    answers = [rd.raw(b"\x00\xA4\x04\x00\x0A" + op.CARD_AID + b"\x00") for _ in range(3)]
    t.ok(len(set(answers)) == 3 and (b"", b"\x90\x00") not in answers,
         "random: SELECT answers are random bytes")
    not_here = {0x6700, 0x6985, 0x6986, 0x6999, 0x6A00, 0x6A81, 0x6A82, 0x6A86, 0x6A87, 0x6B00,
                0x6D00, 0x6E00}
    sws = [int.from_bytes(sw, "big") for _, sw in answers]
    t.ok(not any(sw in not_here or sw in (0x9000, 0x6282) or sw >> 8 in (0x61, 0x6C) for sw in sws),
         "random: no answer selects or says 'not here' (nonsense: malformed)")
    rd.close()

    r = next_reader()
    card = h.insert(r, "iso7816")
    rd = Reader(h, r)
    t.ok(card.atr not in (op.CARD_ATR, op.PHONE_ATR, op.LEGACY_ATR), "iso7816: its own ATR")
    for aid, name in ((op.CARD_AID, "card"), (op.PHONE_AID, "phone"), (op.LEGACY_AID, "Vitale")):
        t.eq(rd.select(aid), b"\x6A\x82", "iso7816: %s AID not found" % name)
    sw = rd.raw(b"\x00\xA4\x00\x00\x02\x3F\x00")[1]
    t.ok(sw == b"\x90\x00" or sw[0] == 0x61, "iso7816: it has an MF (SELECT answers %s)" % sw.hex())
    t.eq(rd.raw(b"\x00\xB0\x82\x00\x00")[1], b"\x6A\x82",
         "iso7816: but no identity file SFI 02 (not a Vitale card)")
    t.ok(card.alive(), "iso7816: the emulator survived the legacy probe")
    rd.close()


def test_legacy(t, h):
    r = next_reader()
    card = h.insert(r, "legacy")
    t.eq(card.atr, op.LEGACY_ATR, "legacy: Vitale 2 ATR")
    rd = Reader(h, r)
    t.eq(rd.proto, S.SCARD_PROTOCOL_T0, "legacy: T=0")
    t.eq(rd.select(op.CARD_AID), b"\x6A\x82", "legacy: open-profile card AID not found")
    t.eq(rd.select(op.PHONE_AID), b"\x6A\x82", "legacy: open-profile phone AID not found")
    t.eq(rd.tx(b"\x00\xA4\x00\x00\x02\x3F\x00")[1], b"\x90\x00", "legacy: SELECT MF")
    t.eq(rd.raw(b"\x00\xB0\x82\x00\x00")[1][:1], b"\x6C", "legacy: READ BINARY Le=00 gets 6C XX")
    data, sw = rd.tx(b"\x00\xB0\x82\x00\x00")
    ident = {tag: v.decode() for tag, v, _ in parse_tlv(strip_outer(data, 0x65))}
    L = LEGACY["legacy"]
    t.eq(ident, {0x80: L["surname"], 0x81: L["first_name"], 0x82: L["birth_date"]},
         "legacy: template 65 with 80 surname, 81 first name, 82 birth date")
    t.eq(rd.select(op.LEGACY_AID), b"\x90\x00", "legacy: SELECT VITALE")
    data, sw = rd.tx(b"\x00\xB0\x82\x00\x00")
    t.eq(parse_tlv(strip_outer(data, 0x65)), [(0x93, L["nir"].encode(), None)],
         "legacy: template 65 with 93 NIR")
    rd.close()


def test_pcscd_restart(t, h):
    h.insert(0, "card")
    h.restart_pcscd()
    t.ok(h.wait(0, False) and h.wait(1, False), "after a pcscd restart both readers are empty")
    h.insert(0, "card")
    t.ok(h.state(0) & S.SCARD_STATE_PRESENT, "a card can be inserted again after the restart")
    h.remove(0)


def main():
    t.run(test_pki)
    t.run(test_families)
    t.run(test_doc_lists_variants)
    try:
        h = Pcsc(pki=PKI)
        h.__enter__()
    except HarnessUnavailable as e:
        t.skip("virtual cards in a private pcscd", str(e))
        t.done()
    try:
        for fn in (test_reference_card, test_phone, test_phone_variants, test_good_variants, test_untrusted_signers,
                   test_forged, test_policy_variants, test_malformed, test_broken_cards,
                   test_legacy, test_pcscd_restart):
            t.run(fn, h)
    finally:
        h.stop()
    t.done()


main()
