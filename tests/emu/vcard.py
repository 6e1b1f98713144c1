#!/usr/bin/python3
"""vcard.py: virtual chips of the vitaled open profile on python3-virtualsmartcard.

One program for every card the tests need:

  vcard.py --pki DIR [--family NAME] --profile card|phone|legacy|iso7816
           [--variant NAME] [--reader 0|1 | --port N] [--host 127.0.0.1]

It connects to vpcd (reader 0 = TCP 35963, reader 1 = 35964) and answers
APDUs as doc/formats.md says; killing it removes the card. `--list` prints
every variant (and the legacy/iso7816 profiles) with the verdict a reader
must give (JSON); tests use `VARIANTS` and `PROFILE_VERDICTS` for the same. Run it with /usr/bin/python3 (Debian's modules).
"""
import argparse
import importlib.util
import json
import os
from random import Random
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import openprofile as op  # noqa: E402

VICC_PATH = "/usr/lib/python3/site-packages/virtualsmartcard"


def _crypto_shim():
    """vicc imports `Crypto`, Debian ships pycryptodome as `Cryptodome`:
    a private directory with a `Crypto` symlink bridges the two."""
    if importlib.util.find_spec("Crypto"):
        return
    target = "/usr/lib/python3/dist-packages/Cryptodome"
    d = os.path.join(tempfile.gettempdir(), "vitaled-crypto-shim-%d" % os.getuid())
    link = os.path.join(d, "Crypto")
    if not os.path.islink(link):
        os.makedirs(d, exist_ok=True)
        tmp = "%s.%d" % (link, os.getpid())
        os.symlink(target, tmp)
        os.replace(tmp, link)
    sys.path.insert(0, d)


_crypto_shim()
sys.path.insert(0, VICC_PATH)
from virtualsmartcard.VirtualSmartcard import SmartcardOS, VirtualICC  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402

VPCD_PORT = 35963

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_NO_CURRENT_EF = b"\x69\x86"
SW_NO_DATA = b"\x69\x85"
SW_NOT_FOUND = b"\x6A\x82"
SW_WRONG_P1P2 = b"\x6A\x86"
SW_WRONG_OFFSET = b"\x6B\x00"
SW_INS = b"\x6D\x00"
SW_CLA = b"\x6E\x00"

# Variant -> (build options, chip options, verdict a reader must give).
# Build options go to openprofile.build_image; chip options to ChipOS.
VARIANTS = {
    "reference": ({}, {}, "verified"),
    "ps256": ({"signer": "ds-ps256"}, {}, "verified"),
    "sha384": ({"hash_alg": "sha384"}, {}, "verified"),
    "sha512": ({"hash_alg": "sha512"}, {}, "verified"),
    "ext-ignorable": ({"mutate": "ext-ignorable"}, {}, "verified"),
    "t0": ({}, {"atr": op.CARD_ATR_T0, "exact_le": True, "getresponse": "aa"}, "verified"),
    "sw61": ({}, {"getresponse": "all"}, "verified"),
    "sw6c": ({}, {"exact_le": True}, "verified"),
    # 67 00 to a READ BINARY asking for more than the file has (Le=00
    # included), as some Vitale 2 cards answer: the header, then the rest.
    "sw6700": ({}, {"wrong_length": True}, "verified"),
    "slow": ({}, {"delay": 0.2}, "verified"),
    "untrusted": ({"signer": "ds-foreign"}, {}, "untrusted"),
    "expired": ({"signer": "ds-expired"}, {}, "expired"),
    "notyet": ({"signer": "ds-notyet"}, {}, "not-yet-valid"),
    "revoked": ({"signer": "ds-revoked"}, {}, "revoked"),
    "wrong-hash": ({"mutate": "wrong-hash"}, {}, "forged"),
    "clone": ({"chip_key": "aa-clone"}, {}, "clone-suspected"),
    # The real chip's answer to an earlier challenge, replayed to every new
    # one (a copy made from an eavesdropped read): only a fresh challenge
    # per read tells it from the real chip.
    "aa-replay": ({}, {"replay_aa": True}, "clone-suspected"),
    "opposed": ({"serial": "opposed"}, {}, "opposed"),
    "test-marker": ({"marker": "test"}, {}, "test-card"),
    "demo": ({"marker": "demo"}, {}, "test-card"),  # with the demo PKI
    "tlv-truncated": ({"mutate": "tlv-truncated"}, {}, "malformed"),
    "tlv-overlong": ({"mutate": "tlv-overlong"}, {}, "malformed"),
    "tlv-inner-overrun": ({"mutate": "tlv-inner-overrun"}, {}, "malformed"),
    "nest-bomb": ({"mutate": "nest-bomb"}, {}, "malformed"),
    "nest-depth5": ({"mutate": "nest-depth5"}, {}, "malformed"),
    "nest-leaf5": ({"mutate": "nest-leaf5"}, {}, "malformed"),
    "version2": ({"mutate": "version2"}, {}, "malformed"),
    "ext-critical": ({"mutate": "ext-critical"}, {}, "malformed"),
    "no-dg15": ({"mutate": "no-dg15"}, {}, "malformed"),
    # EF.SOD without its signer certificate (the trust store knows it).
    "sod-no-cert": ({"sod_certs": False}, {}, "malformed"),
    # EF.SOD signed with ECDSA-with-SHA224: valid CMS, not in the profile's list.
    "sod-sha224": ({"sod_md": "sha224"}, {}, "malformed"),
    # Random answers (seeded: none of the first 32 ends in 90 00, 61 XX,
    # 62 82, 6C XX or a "not found" status word): nonsense.
    "random": ({}, {"random": True}, "malformed"),
    # Removed after N APDUs: the read fails; nothing may be published.
    "vanish": ({}, {"max_apdus": 3}, "read-failed"),
    # A DG4 the SOD does not list is never used: verified, without AMC.
    "dg-unlisted": ({"mutate": "dg-unlisted"}, {}, "verified"),
}
# Profiles that are not the open profile, with the verdict of a reader.
PROFILE_VERDICTS = {"legacy": "unverifiable", "iso7816": "unsupported"}
OPPOSED_SERIAL = {"card": "VTD0000009999", "phone": "VTP0000009999"}


def sign_aa(keyfile, challenge):
    """ECDSA P-256 over SHA-256(challenge), raw r||s (32 + 32 bytes)."""
    with open(keyfile, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    r, s = decode_dss_signature(key.sign(challenge, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def parse_apdu(msg):
    """Short APDU -> (cla, ins, p1, p2, data, le) with le None when absent
    (256 for 00); None when the length bytes are inconsistent."""
    if len(msg) < 4:
        return None
    cla, ins, p1, p2 = msg[:4]
    body = msg[4:]
    if not body:
        return cla, ins, p1, p2, b"", None
    if len(body) == 1:
        return cla, ins, p1, p2, b"", body[0] or 256
    lc = body[0]
    if lc == 0:
        return None  # extended lengths are not part of the profile
    if len(body) == 1 + lc:
        return cla, ins, p1, p2, body[1:], None
    if len(body) == 2 + lc:
        return cla, ins, p1, p2, body[1:1 + lc], body[-1] or 256
    return None


class ChipOS(SmartcardOS):
    """An ISO 7816-4 chip with named applications of transparent EFs read by SFI.

    apps: {(P1 of SELECT, name or file id): {sfi: bytes}}.
    exact_le: answer 6C XX when Le differs from what is available (T=0 habit).
    wrong_length: answer 67 00 instead, without telling the length (some
    Vitale 2 cards): only a READ BINARY asking for no more than the file
    holds from the offset gets data.
    getresponse: "aa" answers INTERNAL AUTHENTICATE with 61 XX, "all" every
    response with data; the reader fetches it with GET RESPONSE.
    delay: seconds slept before each answer. max_apdus: the chip vanishes
    (process exits) when that many APDUs have been answered. stall_after:
    the chip stops answering (hangs, still present) after that many.
    random: answer everything with random bytes (2..258, from a seeded
    generator: the same card every run). uid: answer the PC/SC
    contactless pseudo-APDU FF CA 00 00 00. replay_aa: answer INTERNAL
    AUTHENTICATE with the real key's answer to one recorded challenge."""

    def __init__(self, atr, apps, aa_key=None, exact_le=False, getresponse=None,
                 delay=0.0, max_apdus=0, random=False, uid=None, seed=0, wrong_length=False,
                 stall_after=0, replay_aa=False):
        self.atr = atr
        self.apps = apps
        self.aa_key = aa_key
        self.exact_le = exact_le
        self.wrong_length = wrong_length
        self.getresponse = getresponse
        self.delay = delay
        self.max_apdus = max_apdus
        self.stall_after = stall_after
        self.random = random
        self.rng = Random(seed)
        self.uid = uid
        self.count = 0
        self.recorded = sign_aa(aa_key, os.urandom(32)) if replay_aa else None
        self.reset()

    def getATR(self):
        return self.atr

    def reset(self):
        self.app = None
        self.ef = None
        self.pending = b""

    def powerUp(self):
        self.reset()

    def powerDown(self):
        self.reset()

    def execute(self, msg):
        if self.max_apdus and self.count >= self.max_apdus:
            os._exit(0)  # the card is gone mid-read
        if self.stall_after and self.count >= self.stall_after:
            time.sleep(3600)  # a hung card: no answer, not removed
        self.count += 1
        if self.delay:
            time.sleep(self.delay)
        if self.random:
            return self.rng.randbytes(self.rng.randint(2, 258))
        rsp = self.dispatch(msg)
        data, sw = rsp[:-2], rsp[-2:]
        if data and sw == SW_OK and self.getresponse == "all" and msg[1] != 0xC0:
            return self.defer(data)
        return rsp

    def defer(self, data):
        self.pending = data
        return bytes([0x61, len(data) & 0xFF])

    def dispatch(self, msg):
        a = parse_apdu(msg)
        if a is None:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2, data, le = a
        if cla == 0xFF and ins == 0xCA and self.uid:
            return self.uid + SW_OK if p1 == 0 else SW_WRONG_P1P2
        if cla != 0x00:
            return SW_CLA
        if ins != 0xC0:
            self.pending = b""  # GET RESPONSE must follow at once
        if ins == 0xA4:
            return self.select(p1, p2, data)
        if ins == 0xB0:
            return self.read_binary(p1, p2, le)
        if ins == 0x88 and self.aa_key:
            return self.internal_authenticate(p1, p2, data)
        if ins == 0xC0:
            return self.get_response(le)
        return SW_INS

    def select(self, p1, p2, data):
        files = self.apps.get((p1, bytes(data)))
        if p2 not in (0x00, 0x0C):
            return SW_WRONG_P1P2
        if files is None:
            return SW_NOT_FOUND
        self.app, self.ef = files, None
        return SW_OK

    def read_binary(self, p1, p2, le):
        if self.app is None:
            return SW_NO_CURRENT_EF
        if le is None:
            return SW_WRONG_LENGTH
        if p1 & 0x80:
            if p1 & 0x60:
                return SW_WRONG_P1P2
            ef = self.app.get(p1 & 0x1F)
            if ef is None:
                return SW_NOT_FOUND
            self.ef, offset = ef, p2
        else:
            if self.ef is None:
                return SW_NO_CURRENT_EF
            offset = (p1 << 8) | p2
        if offset >= len(self.ef):
            return SW_WRONG_OFFSET
        chunk = self.ef[offset:offset + le]
        if self.wrong_length and le > len(chunk):
            return SW_WRONG_LENGTH
        if self.exact_le and le != len(chunk):
            return bytes([0x6C, len(chunk) & 0xFF])
        return chunk + SW_OK

    def internal_authenticate(self, p1, p2, data):
        if self.app is None:
            return SW_NO_CURRENT_EF
        if p1 or p2:
            return SW_WRONG_P1P2
        if len(data) != 32:
            return SW_WRONG_LENGTH
        sig = self.recorded or sign_aa(self.aa_key, bytes(data))
        if self.getresponse:
            return self.defer(sig)
        return sig + SW_OK

    def get_response(self, le):
        if not self.pending:
            return SW_NO_DATA
        n = le or 256
        out, self.pending = self.pending[:n], self.pending[n:]
        if self.pending:
            return out + bytes([0x61, len(self.pending) & 0xFF])
        return out + SW_OK


class QuickSocket:
    """vpcd sends length and body in two writes: Nagle on its side meets
    delayed ACK on ours (~44 ms per APDU). NODELAY plus QUICKACK re-armed
    before every recv keeps a round trip in the tens of microseconds.
    recv also waits for the whole message (vicc reads once per part)."""

    def __init__(self, sock):
        self.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv(self, n):
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return self.sock.recv(n, socket.MSG_WAITALL)

    def sendall(self, data):
        return self.sock.sendall(data)

    def close(self):
        return self.sock.close()

    def settimeout(self, t):
        return self.sock.settimeout(t)


class QuickICC(VirtualICC):
    @staticmethod
    def connectToPort(host, port):
        # vpcd may still be starting: retry for a while instead of exiting.
        deadline = time.monotonic() + 10
        while True:
            try:
                return socket.create_connection((host, port))
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def legacy_apps(fam):
    ident = fam["legacy"]
    mf = {2: op.tlv(0x65, op.tlv(0x80, ident["surname"]) + op.tlv(0x81, ident["first_name"])
                    + op.tlv(0x82, ident["birth_date"]))}
    vitale = {2: op.tlv(0x65, op.tlv(0x93, ident["nir"]))}
    return {(0x00, b"\x3F\x00"): mf, (0x04, op.LEGACY_AID): vitale}


def make_os(args):
    if args.variant not in VARIANTS:
        raise SystemExit("unknown variant %r (see --list)" % args.variant)
    build, chip, _ = VARIANTS[args.variant]
    chip = dict(chip)
    if args.delay is not None:
        chip["delay"] = args.delay
    if args.max_apdus is not None:
        chip["max_apdus"] = args.max_apdus
    if args.stall_after is not None:
        chip["stall_after"] = args.stall_after
    if args.seed is not None:
        chip["seed"] = args.seed
    fam = op.load_family(op.family_path(args.family or
                                        ("legacy" if args.profile == "legacy" else "reference")))
    if args.profile == "legacy":
        return ChipOS(op.LEGACY_ATR, legacy_apps(fam), exact_le=True, **chip)
    build = dict(build)
    if build.get("serial") == "opposed":
        build["serial"] = OPPOSED_SERIAL[args.profile]
    if args.signer:
        build["signer"] = args.signer
    if getattr(args, "image", None):
        img = op.read_image(args.image)
    else:
        img = op.build_image(fam, args.pki, form_factor=args.profile, aa_key=args.aa_key,
                             **build)
    if args.profile == "phone":
        # A phone's HCE UID is random per tap.
        return ChipOS(op.PHONE_ATR, {(0x04, op.PHONE_AID): img.files}, img.aa_key,
                      uid=os.urandom(4), **chip)
    atr = chip.pop("atr", op.CARD_ATR)
    return ChipOS(atr, {(0x04, op.CARD_AID): img.files}, img.aa_key, **chip)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pki", help="directory made by tests/pki/mkpki.sh")
    ap.add_argument("--family", help="family name (tests/emu/families) or JSON path")
    ap.add_argument("--profile", choices=("card", "phone", "legacy", "iso7816"), default="card")
    ap.add_argument("--variant", default="reference")
    ap.add_argument("--signer", help="document signer (overrides the variant's)")
    ap.add_argument("--aa-key", default="aa-1", help="key named in DG15")
    ap.add_argument("--delay", type=float, help="seconds before each answer")
    ap.add_argument("--max-apdus", type=int, help="vanish after this many APDUs")
    ap.add_argument("--stall-after", type=int, help="stop answering after this many APDUs")
    ap.add_argument("--seed", type=int, help="seed of the random variant")
    ap.add_argument("--reader", type=int, default=0, choices=(0, 1))
    ap.add_argument("--port", type=int, help="vpcd port (default 35963 + reader)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--list", action="store_true", help="print variants and verdicts as JSON")
    args = ap.parse_args()
    if args.list:
        print(json.dumps({"variants": {k: v[2] for k, v in VARIANTS.items()},
                          "profiles": PROFILE_VERDICTS}, indent=1))
        return
    chip = None
    if args.profile == "iso7816":
        # vicc's TLVutils.pack joins ints under Python 3 and kills the card on
        # SELECT with FCI; give its file system a working BER-TLV packer.
        from virtualsmartcard import SmartcardFilesystem
        SmartcardFilesystem.bertlv_pack = lambda items: b"".join(
            op.tlv(tag, bytes(value)) for tag, _, value in items)
    else:
        if not args.pki:
            ap.error("--pki is required")
        chip = make_os(args)
    import logging
    port = args.port or VPCD_PORT + args.reader
    icc = QuickICC(None, "iso7816", args.host, port, logginglevel=logging.WARNING)
    icc.sock = QuickSocket(icc.sock)
    if chip is not None:
        icc.os = chip  # iso7816: vicc's own file-system card, not a health card
    icc.run()


if __name__ == "__main__":
    main()
