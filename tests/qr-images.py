#!/usr/bin/python3
"""QR codes from image files (lib/qrimage.c through tests/qr/qrscan).

Real images: the EU DCC test vectors (PNG, as published), the same images
converted at test time to JPEG and 8-bit PGM with ImageMagick, and tokens
from the token generator when it is there.  Hostile images: truncated,
random bytes, a header announcing a huge picture, a picture without a QR
code, an unsupported format.  Each gets a clear error, never a crash.
"""
import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.paths import data_dir  # noqa: E402
from vtest.tap import Tap  # noqa: E402

SRC = os.environ.get("top_srcdir", ".")
BUILD = os.environ.get("top_builddir", ".")
DGC = data_dir("dgc")
QRSCAN = os.path.join(BUILD, "tests", "qr", "qrscan")


def scan(*paths):
    """One (ok, bytes or error text) per image."""
    r = subprocess.run([QRSCAN, *paths], capture_output=True, text=True, timeout=120)
    if r.returncode not in (0, 1) or r.stderr:
        raise RuntimeError("qrscan exited %d: %s" % (r.returncode, r.stderr))
    out = []
    for line in r.stdout.splitlines():
        if line.startswith("error "):
            out.append((False, line[6:]))
        else:
            out.append((True, bytes.fromhex(line)))
    if len(out) != len(paths):
        raise RuntimeError("qrscan printed %d results for %d images" % (len(out), len(paths)))
    return out


def dgc_cases(tmp):
    """(name, png path, expected text or None when the image must not decode)."""
    cases = []
    for f in sorted(glob.glob(os.path.join(DGC, "*", "2DCode", "raw", "*.json"))):
        case = json.load(open(f, encoding="utf-8"))
        expect = case.get("EXPECTEDRESULTS", {}).get("EXPECTEDPICTUREDECODE")
        if expect is None or "PREFIX" not in case:
            continue
        name = os.path.relpath(f, DGC)
        pngs = []
        if "2DCODE" in case:
            p = os.path.join(tmp, name.replace("/", "_") + ".png")
            with open(p, "wb") as fh:
                fh.write(base64.b64decode(case["2DCODE"]))
            pngs.append(p)
        sibling = f.replace("/raw/", "/png/")[:-5] + ".png"
        if os.path.exists(sibling):
            pngs.append(sibling)
        for p in pngs:
            cases.append((name, p, case["PREFIX"].encode() if expect else None))
    return cases


def test_dgc_png(t, tmp):
    cases = dgc_cases(tmp)
    t.ok(len(cases) >= 40, "found the DCC test images (%d)" % len(cases))
    results = scan(*[p for _, p, _ in cases])
    bad = []
    for (name, path, want), (ok, got) in zip(cases, results):
        if want is None:
            if ok and got.startswith(b"HC1:"):
                bad.append("%s: decoded although the case says it cannot be read" % name)
        elif not ok or got != want:
            bad.append("%s (%s): %r" % (name, os.path.basename(path), got[:60]))
    t.ok(not bad, "%d DCC PNG images decode to their PREFIX (or fail where expected)"
         % len(cases), "\n".join(bad))
    return [(n, p, w) for n, p, w in cases if w is not None]


def test_converted(t, tmp, cases):
    convert = shutil.which("convert")
    if not convert:
        t.skip("DCC images as JPEG and PGM", "ImageMagick convert not installed")
        return
    for ext, opts in (("jpg", ["-quality", "90"]), ("pgm", ["-colorspace", "Gray", "-depth", "8"])):
        paths = []
        for i, (_, png, _) in enumerate(cases):
            p = os.path.join(tmp, "conv%d.%s" % (i, ext))
            subprocess.run([convert, png, *opts, p], check=True, timeout=60)
            paths.append(p)
        results = scan(*paths)
        bad = ["%s: %r" % (name, got[:60]) for (name, _, want), (ok, got) in zip(cases, results)
               if not ok or got != want]
        t.ok(not bad, "%d DCC images converted to %s decode to their PREFIX"
             % (len(cases), ext.upper()), "\n".join(bad))


def test_fr_png(t):
    paths = sorted(glob.glob(os.path.join(DGC, "FR", "png", "*.png")))
    t.ok(len(paths) >= 30, "found the FR DCC images (%d)" % len(paths))
    results = scan(*paths)
    bad = ["%s: %r" % (os.path.basename(p), got[:60]) for p, (ok, got) in zip(paths, results)
           if not ok or not got.startswith(b"HC1:")]
    t.ok(paths and not bad, "%d FR images decode to an HC1: text" % len(paths), "\n".join(bad))


def test_binary_payload(t, tmp):
    """Binary mode: bytes outside ASCII survive the decoder unchanged."""
    if not shutil.which("qrencode"):
        t.skip("binary QR payload", "qrencode not installed")
        return
    payload = bytes(range(256))
    p = os.path.join(tmp, "binary.png")
    subprocess.run(["qrencode", "-8", "-l", "Q", "-o", p], input=payload, check=True, timeout=60)
    ok, got = scan(p)[0]
    t.ok(ok and got == payload, "a byte-mode QR with all 256 byte values comes back intact",
         repr(got[:40]))


def foreign_png():
    """A QR code that is not ours: a French DCC image."""
    return os.path.join(DGC, "FR", "png", "DCC_Test_0001.png")


def test_hostile(t, tmp):
    data = open(foreign_png(), "rb").read()
    files = {}

    def put(name, content):
        p = os.path.join(tmp, name)
        with open(p, "wb") as fh:
            fh.write(content)
        files[name] = p

    put("truncated.png", data[: len(data) // 3])
    put("random.bin", os.urandom(4096))
    put("empty.png", b"")
    # A valid PNG signature and IHDR claiming 100000 x 100000 pixels.
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    put("huge.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    put("huge.pgm", b"P5\n100000 100000\n255\n" + b"\0" * 64)
    put("short.pgm", b"P5\n300 300\n255\n" + b"\xff" * 100)
    put("deep.pgm", b"P5\n4 4\n65535\n" + b"\0" * 32)
    put("jpeg-garbage.jpg", b"\xff\xd8\xff\xe0" + os.urandom(2000))
    # A picture with no QR code at all.
    put("blank.pgm", b"P5\n64 64\n255\n" + b"\xff" * 64 * 64)
    want = {
        "truncated.png": "EINVAL", "random.bin": "EPROTONOSUPPORT",
        "empty.png": "EPROTONOSUPPORT", "huge.png": "EFBIG", "huge.pgm": "EFBIG",
        "short.pgm": "EINVAL", "deep.pgm": "EINVAL", "jpeg-garbage.jpg": "EINVAL",
        "blank.pgm": "ENODATA",
    }
    names = list(files)
    results = scan(*[files[n] for n in names])
    for name, (ok, got) in zip(names, results):
        t.ok(not ok and got.startswith(want[name] + ":"),
             "%s is refused with %s" % (name, want[name]), got)
    ok, got = scan(os.path.join(tmp, "does-not-exist.png"))[0]
    t.ok(not ok and got.startswith("ENOENT:"), "a missing file says so", got)


def test_generated_tokens(t, tmp):
    """Open-profile tokens from the token generator (tests/tokens/)."""
    gen_dir = os.path.join(SRC, "tests", "tokens")
    if not os.path.isdir(gen_dir):
        t.skip("generated token images", "token generator (tests/tokens) not in the tree yet")
        return
    from vtest import qr
    images = qr.generated_images(tmp)
    if not images:
        t.skip("generated token images", "token generator made no images")
        return
    results = scan(*[p for p, _ in images])
    bad = ["%s: %r" % (os.path.basename(p), got[:60])
           for (p, want), (ok, got) in zip(images, results) if not ok or got != want]
    t.ok(not bad, "%d generated token images decode to their text" % len(images), "\n".join(bad))


def test_vitalectl_image(t, tmp):
    """vitalectl token verify --image: image → QR → the verification engine."""
    from vtest import pki
    ctl = os.path.join(BUILD, "tools", "vitalectl")
    if not os.access(ctl, os.X_OK):
        t.skip("vitalectl token verify --image", "tools/vitalectl not built")
        return
    from vtest import qr
    trust = pki.trust_dir()

    def verify(path):
        r = subprocess.run([ctl, "--json", "token", "verify", "--trust-dir", trust,
                            "--image", path], capture_output=True, text=True, timeout=60)
        try:
            return r.returncode, json.loads(r.stdout).get("status"), r.stderr
        except ValueError:
            return r.returncode, None, r.stderr

    png = os.path.join(tmp, "ctl-valid.png")
    qr.token_image(png, "valid")
    jpg = os.path.join(tmp, "ctl-valid.jpg")
    pgm = os.path.join(tmp, "ctl-valid.pgm")
    if not shutil.which("convert"):
        t.skip("vitalectl --image on JPEG", "ImageMagick convert not installed")
        jpg = png
    else:
        subprocess.run(["convert", png, "-quality", "90", jpg], check=True, timeout=60)
    qr.token_image(pgm, "valid", "pgm")
    for path in (png, jpg, pgm):
        rc, status, err = verify(path)
        t.ok(rc == 0 and status == "verified", "vitalectl --image %s: verified"
             % os.path.splitext(path)[1], (rc, status, err))
    exp = os.path.join(tmp, "ctl-expired.png")
    qr.token_image(exp, "expired")
    rc, status, err = verify(exp)
    t.ok(rc == 1 and status == "expired", "an expired token image: expired", (rc, status, err))
    rc, status, err = verify(foreign_png())
    t.ok(rc == 1 and status == "unsupported", "a QR code that is not ours: unsupported",
         (rc, status, err))
    bad = os.path.join(tmp, "ctl-truncated.png")
    with open(png, "rb") as f, open(bad, "wb") as g:
        g.write(f.read()[:200])
    rc, status, err = verify(bad)
    t.ok(rc == 1 and "unreadable or damaged image" in err,
         "an unreadable image: exit 1 and a clear message", (rc, status, err))


def main():
    t = Tap()
    if not os.access(QRSCAN, os.X_OK):
        t.bail("tests/qr/qrscan not built")
    with tempfile.TemporaryDirectory(prefix="vitaled-qrimg-") as tmp:
        cases = []

        def dgc(tap):
            cases.extend(test_dgc_png(tap, tmp))
        t.run(dgc)
        t.run(test_converted, tmp, cases)
        t.run(test_fr_png)
        t.run(test_binary_payload, tmp)
        t.run(test_hostile, tmp)
        t.run(test_generated_tokens, tmp)
        t.run(test_vitalectl_image, tmp)
    t.done()


if __name__ == "__main__":
    main()
