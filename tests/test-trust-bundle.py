#!/usr/bin/python3
"""Signed trust bundles (doc/formats.md section 14) end to end.

The trust-list PKI and the card PKI are made with openssl at test time;
bundles are built by the real tools/vitaled-trust-bundle.  The real
vitaled on a private bus, with the real pcscd, vpcd and card emulator:

- a bundle installed with `vitalectl trust install` and one renamed into
  the drop directory both take effect: a card signed by a revoked signer
  then reads "revoked", an opposed serial "opposed";
- rollback, equal version (no-op), expired, issued in the future, a member
  whose hash does not match, a wrong signer, an unknown root, a truncated
  file: each refused with a clear message, the set in force kept serving;
- a read-only or full state directory: refused, the old set kept;
- kill -9 at every step of an install (tests/trust/crash-at.c): after a
  restart, the old set or the new one, never a mix;
- while an install is in progress (held at its first disk step by the same
  shim): InstallTrustBundle is refused with Busy, the set in force serves,
  a bundle dropped meanwhile waits its turn and is installed after;
- [Trust] MaxAge: verdicts say the trust material is stale; StaleAction =
  refuse refuses.
"""
import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import bundle as vb  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.cardrig import Rig, Bus, HarnessUnavailable  # noqa: E402
from vtest.daemon import Daemon, vitalectl_path  # noqa: E402
from vtest import paths  # noqa: E402
from vtest.proc import sanitizer_report  # noqa: E402

t = Tap()
WORK = tempfile.mkdtemp(prefix="vitaled-bundle-")
TL = vb.TrustListPki(os.path.join(WORK, "tl"))
FULL = vpki.trust_dir()
SHIM = os.path.join(paths.builddir(), "tests", "trust", ".libs", "crash-at.so")
FAR = "@4102444800"    # 2100-01-01


def trust_subset(name, files, opposed=None):
    """A trust directory with some files of the test PKI (and an opposition list)."""
    d = os.path.join(WORK, name)
    os.makedirs(d)
    for f in files:
        shutil.copy(os.path.join(FULL, f), d)
    if opposed is not None:
        with open(os.path.join(d, "opposition.txt"), "w") as f:
            f.write("".join(s + "\n" for s in opposed))
    return d


# Before any bundle: the issuer root and signers, no CRL, no opposition list.
BASE = trust_subset("base", ["root.pem", "ds-es256.pem", "ds-ps256.pem", "ds-revoked.pem"])


def conf(drop, extra=""):
    return ("[Trust]\nListRootDirectory = %s\nDropDirectory = %s\n%s"
            % (TL.roots, drop, extra))


def bundle(version, trust=FULL, **kw):
    out = os.path.join(WORK, "b-%s-%d.bundle" % (kw.get("signer", "a"), version))
    if os.path.exists(out):
        os.unlink(out)
    TL.build(trust, out, version, **kw)
    return out


def vitalectl(rig, *args):
    env = dict(os.environ, **rig.bus.env())
    return subprocess.run([vitalectl_path(), "--session", "--config", rig.daemon.conf_path]
                          + list(args), capture_output=True, text=True, env=env, timeout=180)


def prop(rig, name):
    return rig.prop("/org/vitaled", "Manager1", name)


def read(rig, variant, profile="card"):
    at = rig.mark()
    card = rig.insert(0, profile=profile, variant=variant)
    v = rig.verdict(0, at)
    rig.remove(0, card)
    return v


RIG_DROP = os.path.join(WORK, "rig-drop")


def drop(rig, path, name="x.bundle"):
    """Rename path into the drop directory; the daemon's outcome line."""
    dropdir = RIG_DROP
    at = rig.mark()
    tmp = os.path.join(dropdir, ".incoming")
    shutil.copy(path, tmp)
    os.rename(tmp, os.path.join(dropdir, name))
    m = rig.wait(r"trust: bundle (version \d+ from drop:\S+ installed .*|from drop:\S+ "
                 r"(refused: .*|.*; nothing to do))$", at, timeout=120)
    t.ok(not os.path.exists(os.path.join(dropdir, name)),
         "the dropped file is removed after the outcome (%s)" % name)
    return m.group(0)


def serving(rig, version, what):
    """The set in force is still the one installed, and still serves."""
    t.eq(prop(rig, "TrustBundleVersion"), version, "%s: version %d still in force"
         % (what, version))
    t.eq(read(rig, "revoked")["status"], "revoked", "%s: a revoked signer still reads revoked"
         % what)


def refusals(rig, version):
    """Each bad bundle, by vitalectl (checked on the client, then by the
    daemon through the drop directory): refused, the old set serving."""
    now = int(time.time())
    cases = []
    cases.append(("rollback", bundle(version - 1), "older than the installed version"))
    cases.append(("expired", bundle(version + 1, issued="@%d" % (now - 7200),
                                    expires="@%d" % (now - 3600)), "expired"))
    cases.append(("issued in the future", bundle(version + 2, issued="@%d" % (now + 3600)),
                  "issued in the future"))
    cases.append(("unknown root", bundle(version + 3, signer="signer-foreign"),
                  "signature not accepted"))
    # A card document signer is no trust-list signer.
    wrong = os.path.join(WORK, "wrong-signer.bundle")
    vb.build(FULL, wrong, version + 4, vpki.private("ds-es256.pem"),
             vpki.private("ds-es256.key"))
    cases.append(("wrong signer (a card document signer)", wrong, "signature not accepted"))
    good = bundle(version + 5)
    with open(good, "rb") as f:
        data = f.read()
    trunc = os.path.join(WORK, "truncated.bundle")
    with open(trunc, "wb") as f:
        f.write(data[:len(data) - 200])
    cases.append(("truncated", trunc, "damaged or truncated"))
    # Properly signed, but a member's hash does not match (openssl signs
    # what the builder would never write).
    members = vb.members_of(FULL)
    bad = os.path.join(WORK, "bad-hash.bundle")
    vb.sign(vb.manifest(version + 6, now - 60, now + 86400, members,
                        hashes={"opposition.txt": b"\0" * 32}),
            bad, TL.path("signer-a.pem"), TL.path("signer-a.key"), WORK)
    cases.append(("tampered member (hash mismatch)", bad, "opposition.txt: content does not "
                  "match its hash"))
    # A member changed after signing: the signature no longer covers it.
    i = data.find(b"VTD0000009999")
    tampered = os.path.join(WORK, "tampered.bundle")
    with open(tampered, "wb") as f:
        f.write(data[:i] + b"VTD0000009998" + data[i + 13:])
    cases.append(("tampered member (after signing)", tampered, "signature not accepted"))

    for what, path, words in cases:
        r = vitalectl(rig, "trust", "install", path)
        t.ok(r.returncode == 1 and words in r.stderr,
             "vitalectl trust install refuses: %s" % what, r.stderr.strip())
        line = drop(rig, path)
        t.ok("refused" in line and words in line, "the daemon refuses it too: %s" % what, line)
        t.ok(words in prop(rig, "TrustLastInstallError"),
             "Manager1.TrustLastInstallError says why: %s" % what)
        t.eq(prop(rig, "TrustBundleVersion"), version, "%s: version %d still in force"
             % (what, version))
    serving(rig, version, "after every refusal")


def test_install(rig):
    t.eq(prop(rig, "TrustBundleVersion"), 0, "no bundle installed at first")
    t.eq(read(rig, "revoked")["status"], "verified",
         "without the CRL, the revoked signer's card verifies")
    t.eq(read(rig, "opposed")["status"], "verified",
         "without the opposition list, the opposed card verifies")

    r = vitalectl(rig, "trust", "install", bundle(3))
    t.ok(r.returncode == 0 and "version 3" in r.stdout, "vitalectl trust install: version 3",
         r.stdout + r.stderr)
    t.eq(prop(rig, "TrustBundleVersion"), 3, "Manager1.TrustBundleVersion 3")
    t.ok(prop(rig, "TrustBundleSource").startswith("vitalectl:"),
         "Manager1.TrustBundleSource names vitalectl")
    t.ok(prop(rig, "TrustBundleExpires") == 4102444800 and
         abs(prop(rig, "TrustBundleIssued") - time.time()) < 600,
         "Manager1 TrustBundleIssued and TrustBundleExpires are the bundle's")
    t.eq(prop(rig, "TrustCrls"), 1, "the bundle's CRL is in force")
    t.eq(read(rig, "revoked")["status"], "revoked", "after install: revoked signer → revoked")
    t.eq(read(rig, "opposed")["status"], "opposed", "after install: opposed serial → opposed")

    r = vitalectl(rig, "trust", "install", bundle(3))
    t.ok(r.returncode == 0 and "version 3" in r.stdout, "the same version again: a no-op, "
         "success", r.stdout + r.stderr)
    t.ok(rig.wait(r"bundle version 3 is already installed; nothing to do"),
         "the daemon says nothing was done")

    # Rotation by overlap: a signer of the second pinned root, by the drop directory.
    line = drop(rig, bundle(5, signer="signer-b"))
    t.ok("version 5 from drop:x.bundle installed" in line,
         "drop directory: version 5 signed under the second pinned root installed", line)
    t.eq(prop(rig, "TrustBundleSource"), "drop:x.bundle", "its source is the drop directory")
    refusals(rig, 5)

    r = vitalectl(rig, "trust", "list")
    t.ok(r.returncode == 0 and "bundle version 5" in r.stdout and "drop:x.bundle" in r.stdout,
         "vitalectl trust list shows the bundle's version and source", r.stdout)
    r = vitalectl(rig, "status")
    t.ok("from trust bundle version 5 (drop:x.bundle)" in r.stdout,
         "vitalectl status names the bundle in force", r.stdout)
    r = vitalectl(rig, "--json", "status")
    t.ok(r.returncode == 0 and json.loads(r.stdout)["trust"]["bundle_version"] == 5,
         "vitalectl --json status: trust.bundle_version", r.stdout)


def stale_signal(rig, conf_text, timeout=30):
    """Reload with MaxAge ending 3 s from now; seconds until Manager1 says
    TrustStale by PropertiesChanged (None if it never does)."""
    import gi
    gi.require_version("Gio", "2.0")
    from gi.repository import Gio, GLib
    conn = Gio.DBusConnection.new_for_address_sync(
        rig.bus.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
        Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    loop, got = GLib.MainLoop(), []

    def changed(conn, sender, path, iface, signal, params, data):
        if params.unpack()[1].get("TrustStale") is True:
            got.append(time.monotonic())
            loop.quit()

    conn.signal_subscribe(None, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                          "/org/vitaled", None, Gio.DBusSignalFlags.NONE, changed, None)
    age = int(time.time()) - prop(rig, "TrustBundleIssued")
    at = rig.mark()
    rig.daemon.write_conf(conf_text.replace("[Trust]\n", "[Trust]\nMaxAge = %d\n" % (age + 3), 1))
    rig.daemon.signal(signal.SIGHUP)
    rig.wait(r"reloading configuration", at)
    start = time.monotonic()
    fresh = prop(rig, "TrustStale")
    GLib.timeout_add_seconds(timeout, loop.quit)
    loop.run()
    conn.close_sync(None)
    return fresh, (got[0] - start if got else None)


def test_stale(rig):
    """MaxAge: stale verdicts, then refusals."""
    base = rig.daemon.conf_path
    with open(base) as f:
        text = f.read()
    fresh, after = stale_signal(rig, text)
    t.ok(fresh is False and after is not None,
         "TrustStale turns true by itself when MaxAge runs out, with PropertiesChanged "
         "(%s s after the reload)" % (round(after, 1) if after is not None else None))
    at = rig.mark()
    rig.daemon.write_conf(text.replace("[Trust]\n", "[Trust]\nMaxAge = 1\n", 1))
    time.sleep(2)
    rig.daemon.signal(signal.SIGHUP)
    rig.wait(r"reloading configuration", at)
    t.eq(prop(rig, "TrustStale"), True, "MaxAge past: Manager1.TrustStale")
    v = read(rig, "reference")
    t.ok(v["status"] == "verified" and "trust material is stale" in v["reason"],
         "StaleAction=warn: still verified, and the reason says the trust material is stale",
         v)
    r = vitalectl(rig, "status")
    t.ok("stale" in r.stdout + r.stderr, "vitalectl status warns that it is stale",
         r.stdout + r.stderr)
    r = vitalectl(rig, "diag")
    t.ok(r.returncode == 1 and re.search(r"trust bundle.*trust material is stale", r.stdout)
         and "vitalectl trust install" in r.stdout,
         "vitalectl diag fails the trust bundle check and says what to do", r.stdout)
    at = rig.mark()
    rig.daemon.write_conf(text.replace("[Trust]\n", "[Trust]\nMaxAge = 1\n"
                                       "StaleAction = refuse\n", 1))
    rig.daemon.signal(signal.SIGHUP)
    rig.wait(r"reloading configuration", at)
    v = read(rig, "reference")
    t.ok(v["status"] == "untrusted" and "stale" in v["reason"],
         "StaleAction=refuse: refused as untrusted, the reason says stale", v)
    at = rig.mark()
    rig.daemon.write_conf(text)
    rig.daemon.signal(signal.SIGHUP)
    rig.wait(r"reloading configuration", at)
    t.eq(prop(rig, "TrustStale"), False, "MaxAge off again: not stale")


def card_tests():
    os.makedirs(RIG_DROP)
    # Rig's conf starts with [Trust] Directory: these keys go on in [Trust]
    rig = Rig(conf="ListRootDirectory = %s\nDropDirectory = %s\n" % (TL.roots, RIG_DROP),
              trust=BASE)
    try:
        rig.start()
    except HarnessUnavailable as e:
        t.skip("trust bundles with cards", str(e))
        return
    with rig:
        test_install(rig)
        test_stale(rig)
        status, reports = rig.finish()
        t.ok(status == 0 and not reports, "the daemon stops cleanly", reports)


# -- without cards: storage failures and crashes --------------------------

def small_set(name, opposed):
    return trust_subset(name, ["root.pem", "ds-es256.pem"], opposed=opposed)


V1 = small_set("v1", ["VTX0000000001"])
V2 = small_set("v2", ["VTX0000000001", "VTX0000000002", "VTX0000000003"])


def bus_daemon(bus, state_dir, drop_dir, wrapper=(), env=None):
    d = Daemon(conf="[General]\nStateDirectory = %s\nEnablePlugins = \n%s"
               % (state_dir, conf(drop_dir, "Directory = %s\n" % BASE)),
               env=dict(bus.env(), **(env or {})), session=True, wrapper=wrapper)
    return d


def busctl(bus, name):
    r = subprocess.run(["busctl", "--address=" + bus.address, "get-property", "org.vitaled",
                        "/org/vitaled", "org.vitaled.Manager1", name],
                       capture_output=True, text=True, timeout=30)
    word = r.stdout.split()
    return word[1].strip('"') if len(word) > 1 else None


def state_with_v1(bus, base):
    """A state directory with v1 installed by the daemon itself."""
    state = os.path.join(base, "state")
    dropd = os.path.join(base, "drop")
    os.makedirs(state)
    os.makedirs(dropd)
    d = bus_daemon(bus, state, dropd).start()
    try:
        b1 = os.path.join(base, "v1.bundle")
        TL.build(V1, b1, 1)
        shutil.copy(b1, os.path.join(dropd, ".t"))
        os.rename(os.path.join(dropd, ".t"), os.path.join(dropd, "v1.bundle"))
        d.wait_log(r"bundle version 1 from drop:v1.bundle installed", 60)
    finally:
        d.stop()
    return state


def test_storage(bus):
    v2 = os.path.join(WORK, "storage-v2.bundle")
    big = small_set("big", ["VTX%010d" % i for i in range(20000)])
    TL.build(big, v2, 2)
    for what, opts, words in (("read-only", "ro", "read-only"),
                              ("full", "size=64k", "is full")):
        base = tempfile.mkdtemp(prefix="vitaled-bundle-st-", dir=WORK)
        state = state_with_v1(bus, base)
        trust = os.path.join(state, "trust")
        saved = os.path.join(base, "saved")
        shutil.copytree(trust, saved, symlinks=True)
        # the state's trust directory on its own tmpfs, in the daemon's mount namespace
        script = ('mount -t tmpfs -o size=1m tmpfs "$0" && cp -a "$1"/. "$0"/ && '
                  'mount -o remount,%s "$0" && shift && exec "$@"' % opts)
        wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, trust, saved]
        d = bus_daemon(bus, state, os.path.join(base, "drop"), wrapper=wrapper)
        try:
            d.start()
        except (RuntimeError, TimeoutError) as e:
            t.skip("%s state directory" % what, "no private mount namespace: %s" % e)
            d.stop()
            continue
        shutil.copy(v2, os.path.join(base, "drop", ".t"))
        os.rename(os.path.join(base, "drop", ".t"), os.path.join(base, "drop", "v2.bundle"))
        m = d.wait_log(r"bundle from drop:v2.bundle refused: (.*)$", 60)
        t.ok(words in m.group(1) and "stays" in m.group(1),
             "%s state directory: refused with a clear message" % what, m.group(1))
        t.eq(busctl(bus, "TrustBundleVersion"), "1", "%s: version 1 still in force" % what)
        t.eq(busctl(bus, "TrustOpposed"), "1", "%s: and its opposition list serves" % what)
        d.stop_checked(t)


def test_crash(bus):
    """kill -9 at every step of an install: old or new, never a mix."""
    if not os.path.exists(SHIM):
        t.ok(False, "kill -9 at every step of an install", "%s not built (make check)" % SHIM)
        return
    v2 = os.path.join(WORK, "crash-v2.bundle")
    TL.build(V2, v2, 2)
    template = state_with_v1(bus, tempfile.mkdtemp(prefix="vitaled-bundle-cr-", dir=WORK))
    outcomes = {}
    step = 0
    env_asan = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    while True:
        step += 1
        base = tempfile.mkdtemp(prefix="vitaled-bundle-step-", dir=WORK)
        state = os.path.join(base, "state")
        shutil.copytree(template, state, symlinks=True)
        dropd = os.path.join(base, "drop")
        os.makedirs(dropd)
        d = bus_daemon(bus, state, dropd, env={"LD_PRELOAD": SHIM, "VTEST_CRASH_AT": str(step),
                                               "ASAN_OPTIONS": env_asan})
        d.start()
        shutil.copy(v2, os.path.join(dropd, ".t"))
        os.rename(os.path.join(dropd, ".t"), os.path.join(dropd, "v2.bundle"))
        deadline = time.monotonic() + 60
        while d.proc.poll() is None and "from drop:v2.bundle installed" not in d.log() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        crashed = d.proc.poll() == -signal.SIGKILL
        d.stop()
        # restart without the shim, with an empty drop directory elsewhere
        other = os.path.join(base, "other-drop")
        os.makedirs(other)
        r = bus_daemon(bus, state, other).start()
        version = busctl(bus, "TrustBundleVersion")
        opposed = busctl(bus, "TrustOpposed")
        status = r.stop()
        log = r.log()
        consistent = (version, opposed) in (("1", "1"), ("2", "3"))
        if not consistent or "not used" in log or status != 0 or sanitizer_report(log):
            t.ok(False, "step %d: after kill -9 the old or the new set" % step,
                 "version %s, %s opposed serials\n%s" % (version, opposed, log[-2000:]))
            return
        shutil.rmtree(base, ignore_errors=True)
        if not crashed:
            break
        outcomes.setdefault(version, []).append(step)
    t.eq(version, "2", "with no crash the install completes: version 2")
    t.ok(step > 10 and "1" in outcomes and "2" in outcomes,
         "kill -9 at each of the %d steps of an install: the old set after steps %s, the new "
         "one after steps %s, never a mix" % (step - 1,
                                              ",".join(map(str, outcomes.get("1", []))),
                                              ",".join(map(str, outcomes.get("2", [])))))


def test_busy(bus):
    """An install in progress: a second one is told Busy; a drop waits."""
    if not os.path.exists(SHIM):
        t.ok(False, "an install in progress", "%s not built (make check)" % SHIM)
        return
    base = tempfile.mkdtemp(prefix="vitaled-bundle-busy-", dir=WORK)
    state = state_with_v1(bus, base)
    dropd = os.path.join(base, "drop")
    go = os.path.join(base, "go")
    builds = {}
    for v in (2, 3, 4):
        builds[v] = os.path.join(base, "busy-v%d.bundle" % v)
        TL.build(V2, builds[v], v)
    env_asan = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    d = bus_daemon(bus, state, dropd, env={"LD_PRELOAD": SHIM, "VTEST_CRASH_AT": "1",
                                           "VTEST_STALL_UNTIL": go, "ASAN_OPTIONS": env_asan})
    d.start()
    try:
        for v, name in ((2, "a-v2.bundle"), (3, "b-v3.bundle")):
            shutil.copy(builds[v], os.path.join(dropd, ".t"))
            os.rename(os.path.join(dropd, ".t"), os.path.join(dropd, name))
            if v == 2:
                d.wait_log(r"crash-at: step 1 \(\w+\): stalled", 60)
        r = subprocess.run([vitalectl_path(), "--session", "--config", d.conf_path, "trust",
                            "install", builds[4]], capture_output=True, text=True,
                           env=dict(os.environ, **bus.env()), timeout=180)
        t.ok(r.returncode == 1 and "another trust bundle is being installed" in r.stderr,
             "during an install, trust install is refused: Busy, says why (exit 1)",
             "exit %d: %s" % (r.returncode, r.stderr))
        t.ok(re.search(r"InstallTrustBundle on /org/vitaled by uid 0 .*: Busy$", d.log(), re.M),
             "the refusal is audited")
        t.eq(busctl(bus, "TrustBundleVersion"), "1", "during the install version 1 serves")
        t.ok(os.path.exists(os.path.join(dropd, "b-v3.bundle")),
             "a bundle dropped during the install waits in the drop directory")
        with open(go, "w"):
            pass
        d.wait_log(r"bundle version 2 from drop:a-v2.bundle installed", 60)
        d.wait_log(r"bundle version 3 from drop:b-v3.bundle installed", 60)
        t.eq(busctl(bus, "TrustBundleVersion"), "3",
             "once released, the held install completes, then the waiting drop: version 3")
        t.eq(sorted(os.listdir(dropd)), [], "the drop directory is empty")
    finally:
        with open(go, "w"):
            pass
        d.stop_checked(t)


def test_damaged(bus):
    """A set damaged on disk after its install is not used: the previous one is."""
    base = tempfile.mkdtemp(prefix="vitaled-bundle-dm-", dir=WORK)
    state = state_with_v1(bus, base)
    d = bus_daemon(bus, state, os.path.join(base, "drop")).start()
    b2 = os.path.join(base, "v2.bundle")
    TL.build(V2, b2, 2)
    shutil.copy(b2, os.path.join(base, "drop", ".t"))
    os.rename(os.path.join(base, "drop", ".t"), os.path.join(base, "drop", "v2.bundle"))
    d.wait_log(r"bundle version 2 from drop:v2.bundle installed", 60)
    d.stop()
    with open(os.path.join(state, "trust", "current", "opposition.txt"), "a") as f:
        f.write("VTX0000000004\n")
    r = bus_daemon(bus, state, os.path.join(base, "drop")).start()
    t.ok(r.wait_log(r"installed set v2 \(current\) not used: v2/opposition.txt does not "
                    r"match the bundle", 5),
         "a set changed on disk since its install is refused at start, and said so")
    t.eq((busctl(bus, "TrustBundleVersion"), busctl(bus, "TrustOpposed")), ("1", "1"),
         "the previous set (version 1) is used instead")
    r.stop_checked(t)
    t.eq(os.readlink(os.path.join(state, "trust", "current")), "v1",
         "current points at the previous set again")


def test_roles():
    """A system-like bus with our policy, the daemon as the vitaled user:
    root installs; a member of the client group is refused by vitaled, an
    outsider by the bus, each told that only root may."""
    from vtest.bus import SystemBus, BusUnavailable, uid_of
    bus = SystemBus()
    try:
        bus.start()
    except BusUnavailable as e:
        t.skip("InstallTrustBundle is root's alone", str(e))
        return
    try:
        pub = os.path.join(bus.dir, "pub")   # what the other users may read
        roots = os.path.join(pub, "roots")
        os.makedirs(roots)
        for n in os.listdir(TL.roots):
            shutil.copy(os.path.join(TL.roots, n), roots)
        b1 = os.path.join(pub, "v1.bundle")
        TL.build(V1, b1, 1)
        for dirpath, dirs, files in os.walk(pub):
            os.chmod(dirpath, 0o755)
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o644)
        d = bus.start_vitaled("[General]\nEnablePlugins = \n[Trust]\nDirectory = %s\n"
                              "ListRootDirectory = %s\nDropDirectory = \n" % (pub, roots))
        for who in ("member", "outsider"):
            r = bus.run_as(who, [vitalectl_path(), "--config", d.conf_path, "trust", "install",
                                 b1])
            t.ok(r.returncode == 4 and "only root may install trust material" in r.stderr,
                 "%s: trust install refused, exit 4, says only root may" % who, r.stderr)
        r = bus.call_as("root", "/org/vitaled", "org.freedesktop.DBus.Properties", "Get",
                        "org.vitaled.Manager1", "TrustBundleVersion")
        t.eq(r.get("ok"), 0, "nothing installed by them")
        r = bus.run_as("root", [vitalectl_path(), "--config", d.conf_path, "trust", "install",
                                b1])
        t.ok(r.returncode == 0 and "version 1" in r.stdout, "root: installed", r.stderr)
        r = bus.call_as("root", "/org/vitaled", "org.freedesktop.DBus.Properties", "Get",
                        "org.vitaled.Manager1", "TrustBundleVersion")
        t.eq(r.get("ok"), 1, "Manager1.TrustBundleVersion 1")
        st = os.stat(os.path.join(d.state, "trust", "current", "opposition.txt"))
        t.ok(st.st_uid == uid_of("vitaled") and st.st_mode & 0o077 == 0,
             "the installed set is the vitaled user's, private (mode %o)" % (st.st_mode & 0o777))
        t.ok(re.search(r"InstallTrustBundle on /org/vitaled by uid %d .*refused: AccessDenied"
                       % uid_of("member"), d.log()),
             "the member's attempt is audited")
        d.stop_checked(t)
    finally:
        bus.stop()


def bus_tests():
    test_roles()
    bus = Bus()
    try:
        test_damaged(bus)
        test_storage(bus)
        test_crash(bus)
        test_busy(bus)
    finally:
        bus.close()


def test_format():
    """The builder's content is what doc/formats.md 14.2 says, byte for byte."""
    out = bundle(7)
    roots = os.path.join(WORK, "roots.pem")
    with open(roots, "wb") as f:
        for n in ("root-a.pem", "root-b.pem"):
            with open(TL.path(n), "rb") as g:
                f.write(g.read())
    got = vb.content(out, roots)
    # the times come from the bundle itself: re-encode with them
    times = re.findall(rb"\x18\x0f(\d{14})Z", got[:64])
    stamp = [calendar.timegm(time.strptime(x.decode(), "%Y%m%d%H%M%S")) for x in times]
    want = vb.manifest(7, stamp[0], stamp[1], vb.members_of(FULL))
    t.ok(len(stamp) == 2 and got == want,
         "vitaled-trust-bundle writes the manifest doc/formats.md 14.2 specifies")
    leaky = trust_subset("leaky", ["root.pem"])
    shutil.copy(vpki.private("ds-es256.key"), os.path.join(leaky, "ds-es256.pem"))
    r = vb.build(leaky, os.path.join(WORK, "k.bundle"), 1, TL.path("signer-a.pem"),
                 TL.path("signer-a.key"), check=False)
    t.ok(r.returncode != 0 and "private key" in r.stderr,
         "the builder refuses a directory holding a private key", r.stderr)


def main():
    try:
        test_format()
        card_tests()
        bus_tests()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    t.done()


main()
