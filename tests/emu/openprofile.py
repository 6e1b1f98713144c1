"""Test-side implementation of the vitaled open profile v1 (doc/formats.md).

Independent of the daemon's C code on purpose: test data must never be made by
the code under test. Builds data groups (BER-TLV) from a family file, the
EF.SOD (CMS SignedData made by the `openssl cms` command), and knows the
profile's constants (AIDs, ATRs, SFIs, OIDs).

A *card image* is a dict {sfi: file bytes} plus the name of the chip's Active
Authentication key; `build_image()` makes one, `Mutation` names change it to
make hostile cards. `python3 openprofile.py --help` writes images to disk.
"""
import argparse
import hashlib
import json
import os
import subprocess

CARD_AID = bytes.fromhex("F0 56 49 54 41 4C 45 44 43 31")     # "\xF0" "VITALEDC1"
PHONE_AID = bytes.fromhex("F0 56 49 54 41 4C 45 44 50 31")    # "\xF0" "VITALEDP1"
LEGACY_AID = bytes.fromhex("D2 50 00 00 02 56 49 54 41 4C 45")  # Vitale 2 "VITALE"


def _atr(body):
    """ATR with its TCK (XOR of T0..last byte), needed when T=1 is offered."""
    tck = 0
    for b in body[1:]:
        tck ^= b
    return body + bytes([tck])


# T=1 contact card, 9 proprietary historical bytes "VITALEDC1".
CARD_ATR = _atr(bytes([0x3B, 0x89, 0x80, 0x01]) + b"VITALEDC1")
# The same card offering T=0 only (no interface bytes, no TCK).
CARD_ATR_T0 = bytes([0x3B, 0x09]) + b"VITALEDC1"
# PC/SC part 3 contactless ATR (ISO 14443-4 type A, no historical data).
PHONE_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
# Vitale 2 (T=0, direct convention), as seen on real cards.
LEGACY_ATR = bytes.fromhex("3B751300004409EA9000")

SFI_DG1, SFI_DG2, SFI_DG3, SFI_DG4, SFI_DG15, SFI_SOD = 0x01, 0x02, 0x03, 0x04, 0x0F, 0x1D
DG_SFIS = (SFI_DG1, SFI_DG2, SFI_DG3, SFI_DG4, SFI_DG15)
MAX_FILE = 8192

SOD_ECONTENT_OID = "2.25.294857236452347364537892138512397"
HASH_OIDS = {  # DER contents octets of the OID, as written after tag 06
    "sha256": bytes.fromhex("608648016503040201"),
    "sha384": bytes.fromhex("608648016503040202"),
    "sha512": bytes.fromhex("608648016503040203"),
}

MARKERS = {"production": 0, "test": 1, "demo": 2}
FORM_FACTORS = {"card": 1, "phone": 2}


# --- BER-TLV ---------------------------------------------------------------

def tlv_len(n):
    """Definite length, shortest form (DER)."""
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, value):
    """One TLV; tag is an int of 1 or 2 bytes, value bytes or str (UTF-8)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    tb = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    return tb + tlv_len(len(value)) + value


def tlvs(*items):
    """Concatenate TLVs, skipping the None ones (absent optional fields)."""
    return b"".join(i for i in items if i is not None)


def opt(tag, value):
    return None if value is None else tlv(tag, value)


def u8(n):
    return bytes([n])


# --- NIR -------------------------------------------------------------------

def nir_key(nir13):
    """Key of a 13-character NIR (2A -> 19, 2B -> 18 for the computation)."""
    n = nir13.upper().replace("2A", "19").replace("2B", "18")
    return 97 - int(n) % 97


def nir_ok(nir):
    return len(nir) == 15 and nir[13:].isdigit() and nir_key(nir[:13]) == int(nir[13:])


# --- data groups -----------------------------------------------------------

def dg1(fam, form_factor="card", marker=None, serial=None, version=1, extra=b""):
    c = fam["card"]
    return tlv(0x61, tlvs(
        tlv(0x80, u8(version)),
        tlv(0x81, serial or c["serial"][form_factor]),
        tlv(0x82, c["issuer"]),
        tlv(0x83, c["regime"]),
        tlv(0x84, c["caisse"]),
        tlv(0x85, c["centre"]),
        tlv(0x86, c["code_gestion"]),
        tlv(0x87, c["valid_from"]),
        tlv(0x88, c["valid_until"]),
        tlv(0x89, u8(MARKERS[marker or c.get("marker", "production")])),
        tlv(0x8A, u8(FORM_FACTORS[form_factor])),
    ) + extra)


def dg2(fam):
    out = b""
    for b in fam["beneficiaries"]:
        out += tlv(0xA0, tlvs(
            tlv(0x80, u8(b["index"])),
            tlv(0x81, b["usual_name"]),
            opt(0x82, b.get("birth_name")),
            tlv(0x83, b["first_name"]),
            tlv(0x84, b["birth_date"]),
            opt(0x85, None if b.get("birth_rank") is None else u8(b["birth_rank"])),
            tlv(0x86, b["qualite"]),
            opt(0x87, b.get("nir")),
        ))
    return tlv(0x62, out)


def _period(tag, p, extra=b""):
    return tlv(tag, tlvs(tlv(0x80, p["start"]), opt(0x81, p.get("end"))) + extra)


def dg3(fam):
    out = b""
    for b in fam["beneficiaries"]:
        amo = b.get("amo")
        if not amo:
            continue
        body = tlv(0x80, u8(b["index"]))
        body += b"".join(_period(0xA1, p) for p in amo.get("rights", []))
        for c in amo.get("coverage", []):
            body += _period(0xA2, c, tlvs(opt(0x82, c.get("exemption")),
                                          opt(0x83, c.get("situation"))))
        body += b"".join(_period(0xA3, p) for p in amo.get("c2s", []))
        out += tlv(0xA0, body)
    return tlv(0x63, out)


def dg4(fam):
    out = b""
    for b in fam["beneficiaries"]:
        amc = b.get("amc")
        if not amc:
            continue
        body = tlv(0x80, u8(b["index"]))
        for c in amc:
            body += tlv(0xA1, tlvs(
                tlv(0x80, c["organisation"]), tlv(0x81, c["member"]),
                tlv(0x82, c["guarantee"]), tlv(0x83, c["routing"]),
                tlv(0x84, c["start"]), opt(0x85, c.get("end"))))
        out += tlv(0xA0, body)
    return tlv(0x64, out)


def has_amo(fam):
    return any(b.get("amo") for b in fam["beneficiaries"])


def has_amc(fam):
    return any(b.get("amc") for b in fam["beneficiaries"])


def spki_der(keyfile):
    return _openssl(["pkey", "-in", keyfile, "-pubout", "-outform", "DER"])


def dg15(keyfile):
    return tlv(0x6F, spki_der(keyfile))


# --- EF.SOD ----------------------------------------------------------------

def sod_content(dgs, hash_alg="sha256", again=()):
    """eContent: 70 { 80 version, 06 hash OID, A0 { 80 DG number, 81 hash }... };
    again: (number, data) listed once more after the others."""
    body = tlv(0x80, u8(1)) + tlv(0x06, HASH_OIDS[hash_alg])
    for n, data in [(n, dgs[n]) for n in sorted(dgs)] + list(again):
        body += tlv(0xA0, tlv(0x80, u8(n)) + tlv(0x81, hashlib.new(hash_alg, data).digest()))
    return tlv(0x70, body)


def _openssl(args, data=None):
    r = subprocess.run(["openssl"] + args, input=data, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def cms_sign(content, pki, signer, md="sha256", certs=True, mgf1=None):
    """DER ContentInfo (SignedData, eContent encapsulated, signer cert included
    unless certs is false); md: the CMS digest (a profile's is SHA-2 256/384/512)."""
    cert = os.path.join(pki, "private", signer + ".pem")
    key = os.path.join(pki, "private", signer + ".key")
    args = ["cms", "-sign", "-binary", "-nodetach", "-nosmimecap",
            "-econtent_type", SOD_ECONTENT_OID, "-md", md,
            "-signer", cert, "-inkey", key, "-outform", "DER"]
    if not certs:
        args.append("-nocerts")
    if _openssl(["pkey", "-in", key, "-noout", "-text"]).startswith(b"Private-Key: (2048"):
        args += ["-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:32",
                 "-keyopt", "rsa_mgf1_md:" + (mgf1 or md)]
    return _openssl(args, content)


def ef_sod(dgs, pki, signer, hash_alg="sha256", sod_md="sha256", sod_certs=True, sod_mgf1=None,
           again=()):
    return tlv(0x77, cms_sign(sod_content(dgs, hash_alg, again), pki, signer, sod_md,
                              sod_certs, sod_mgf1))


# --- card images and hostile variants --------------------------------------

def load_family(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def family_path(name):
    """A family by name (tests/emu/families/NAME.json) or by path."""
    if os.sep in name or name.endswith(".json"):
        return name
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "families", name + ".json")


def nest_bomb(depth):
    """A DG2 whose first A0 nests `depth` constructed A0 templates."""
    inner = b""
    for _ in range(depth):
        inner = tlv(0xA0, inner)
    return tlv(0x62, inner)


class Image:
    """Files of a chip (sfi -> bytes) and the key its INTERNAL AUTHENTICATE uses."""

    def __init__(self, files, aa_key):
        self.files = files
        self.aa_key = aa_key


def build_image(fam, pki, form_factor="card", signer="ds-es256", aa_key="aa-1",
                chip_key=None, hash_alg="sha256", marker=None, serial=None,
                mutate=None, sod_md="sha256", sod_certs=True, sod_mgf1=None):
    """Build a chip image.

    aa_key: the key whose public half is in DG15; chip_key: the key the chip
    really signs with (defaults to aa_key; differs for a cloned chip).
    mutate: one of MUTATIONS (applied to the files; the SOD is made after the
    change when the change is meant to be signed, before it when not)."""
    keyfile = os.path.join(pki, "private", aa_key + ".key")
    dgs = {1: dg1(fam, form_factor, marker, serial), 2: dg2(fam)}
    if has_amo(fam):
        dgs[3] = dg3(fam)
    if has_amc(fam):
        dgs[4] = dg4(fam)
    dgs[15] = dg15(keyfile)
    signed_extra = unsigned = None
    if mutate:
        signed_extra, unsigned = MUTATIONS[mutate](fam, form_factor, marker, serial)
    built = dict(dgs)
    if signed_extra:
        dgs.update(signed_extra)
        dgs = {n: v for n, v in dgs.items() if v is not None}
    again = [LISTED_AGAIN[mutate](fam)] if mutate in LISTED_AGAIN else []
    sod = ef_sod(dgs, pki, signer, hash_alg, sod_md, sod_certs, sod_mgf1, again)
    files = {n: v for n, v in dgs.items()}
    if unsigned:
        files.update({n: built[n] if v is AS_BUILT else v for n, v in unsigned.items()})
        files = {n: v for n, v in files.items() if v is not None}
    files[SFI_SOD] = sod
    chip = os.path.join(pki, "private", (chip_key or aa_key) + ".key")
    return Image(files, chip)


# In a mutation's unsigned files: the file as built, before the signed change.
AS_BUILT = object()


def _dg2_renamed(fam):
    f = json.loads(json.dumps(fam))
    f["beneficiaries"][0]["first_name"] += "X"
    return dg2(f)


def _dg2_birth(fam, date):
    f = json.loads(json.dumps(fam))
    f["beneficiaries"][0]["birth_date"] = date
    return dg2(f)


def _inner_overrun(fam):
    """DG2 whose first beneficiary's 81 claims 0x30 bytes but holds 6;
    the outer 62 and A0 lengths are consistent."""
    return tlv(0x62, tlv(0xA0, tlv(0x80, u8(0)) + b"\x81\x30" + b"MARTIN"))


# Each returns (signed changes, unsigned changes): dicts sfi -> bytes or None
# (None removes the file). Signed changes go into the SOD (the issuer "made"
# the bad file); unsigned ones are applied after signing (tampered chip).
MUTATIONS = {
    # DG1's outer length says 16 more bytes than the file holds.
    "tlv-truncated": lambda fam, ff, m, s: ({}, {1: dg1(fam, ff, m, s)[:-16]}),
    # DG2 declares a length above the 8192-byte file cap (82 40 00 = 16384).
    "tlv-overlong": lambda fam, ff, m, s: ({2: b"\x62\x82\x40\x00" + dg2(fam)[2:]}, {}),
    # An inner TLV runs past the end of its parent.
    "tlv-inner-overrun": lambda fam, ff, m, s: ({2: _inner_overrun(fam)}, {}),
    # 1000 nested constructed templates, signed by the issuer.
    "nest-bomb": lambda fam, ff, m, s: ({2: nest_bomb(1000)}, {}),
    # Depth 5 (outer 62 + 4 more): one level beyond the limit.
    "nest-depth5": lambda fam, ff, m, s: ({2: tlv(0x62, tlv(0xA0, tlv(0xA1, tlv(0xA2, tlv(0xA3, b"")))))}, {}),
    # A leaf one level too deep (63 > A0 > A1 > B0 > 90, ignorable tags):
    # every TLV counts as a level, not only templates.
    "nest-leaf5": lambda fam, ff, m, s: ({3: tlv(0x63, tlv(0xA0, tlv(0x80, u8(0)) + tlv(0xA1, tlv(0x80, b"20200101") + tlv(0xB0, tlv(0x90, b"x")))))}, {}),
    # Birth dates with an unknown month (00): the day goes up to 31, no further.
    "birth-month00-day31": lambda fam, ff, m, s: ({2: _dg2_birth(fam, "19800031")}, {}),
    "birth-month00-day32": lambda fam, ff, m, s: ({2: _dg2_birth(fam, "19800032")}, {}),
    # DG2 changed after signing: hash mismatch.
    "wrong-hash": lambda fam, ff, m, s: ({}, {2: _dg2_renamed(fam)}),
    # DG1 format version 2.
    "version2": lambda fam, ff, m, s: ({1: dg1(fam, ff, m, s, version=2)}, {}),
    # An unknown critical tag (8F) in DG1.
    "ext-critical": lambda fam, ff, m, s: ({1: dg1(fam, ff, m, s, extra=tlv(0x8F, b"\x01"))}, {}),
    # A two-byte context tag (9F 20) in DG1: valid BER-TLV, refused in a template
    # (section 12): a version-1 reader never meets a multi-byte tag.
    "ext-multibyte": lambda fam, ff, m, s: ({1: dg1(fam, ff, m, s, extra=tlv(0x9F20, b"\x01"))}, {}),
    # Ignorable extensions (9E and BE) in DG1: must still verify.
    "ext-ignorable": lambda fam, ff, m, s: ({1: dg1(fam, ff, m, s, extra=tlv(0x9E, b"future") + tlv(0xBE, tlv(0x80, b"x")))}, {}),
    # DG15 missing from chip and SOD.
    "no-dg15": lambda fam, ff, m, s: ({15: None}, {}),
    # DG15 on the chip, unlisted in the SOD: its key is then nobody's word.
    "dg15-unlisted": lambda fam, ff, m, s: ({15: None}, {15: AS_BUILT}),
    # DG2 listed twice, the second time with the hash of the changed DG2
    # the chip holds (LISTED_AGAIN): the signed list must not be ambiguous.
    "dg2-listed-twice": lambda fam, ff, m, s: ({}, {2: _dg2_renamed(fam)}),
    # A DG4 on the chip that the SOD does not list.
    "dg-unlisted": lambda fam, ff, m, s: ({4: None}, {4: dg4(fam) if has_amc(fam) else tlv(0x64, b"")}),
}


# Mutations whose SOD lists a data group once more: (number, data).
LISTED_AGAIN = {"dg2-listed-twice": lambda fam: (2, _dg2_renamed(fam))}


def write_image(img, outdir):
    """Files as dgNN.bin / sod.bin plus image.json (sfi -> file, chip key)."""
    os.makedirs(outdir, exist_ok=True)
    manifest = {"files": {}, "chip_key": img.aa_key}
    for sfi, data in sorted(img.files.items()):
        name = "sod.bin" if sfi == SFI_SOD else "dg%02d.bin" % sfi
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
        manifest["files"]["%d" % sfi] = name
    with open(os.path.join(outdir, "image.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def read_image(outdir):
    """The image write_image() left in outdir."""
    with open(os.path.join(outdir, "image.json")) as f:
        manifest = json.load(f)
    files = {}
    for sfi, name in manifest["files"].items():
        with open(os.path.join(outdir, name), "rb") as f:
            files[int(sfi)] = f.read()
    return Image(files, manifest["chip_key"])


def main():
    ap = argparse.ArgumentParser(description="Write a chip image of the open profile to a directory.")
    ap.add_argument("--pki", required=True, help="directory made by tests/pki/mkpki.sh")
    ap.add_argument("--family", default="reference", help="family name or JSON path")
    ap.add_argument("--form-factor", choices=FORM_FACTORS, default="card")
    ap.add_argument("--signer", default="ds-es256")
    ap.add_argument("--aa-key", default="aa-1")
    ap.add_argument("--chip-key", help="key the chip signs with (default: --aa-key)")
    ap.add_argument("--hash", choices=HASH_OIDS, default="sha256")
    ap.add_argument("--marker", choices=MARKERS)
    ap.add_argument("--serial")
    ap.add_argument("--mutate", choices=MUTATIONS)
    ap.add_argument("--sod-md", default="sha256", help="CMS digest of EF.SOD's signature")
    ap.add_argument("--sod-mgf1", help="MGF1 hash of an RSASSA-PSS signer (default: --sod-md)")
    ap.add_argument("--sod-nocerts", action="store_true",
                    help="EF.SOD without the signer certificate")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fam = load_family(family_path(a.family))
    img = build_image(fam, a.pki, a.form_factor, a.signer, a.aa_key, a.chip_key,
                      a.hash, a.marker, a.serial, a.mutate, a.sod_md, not a.sod_nocerts,
                      a.sod_mgf1)
    write_image(img, a.out)


if __name__ == "__main__":
    main()
