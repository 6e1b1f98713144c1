#!/usr/bin/python3
"""vitalectl diag: every failure it finds comes with a fix, its exit status
tells pass/fail, and it works with the daemon down.  Cases: pcscd missing,
no trust roots, a stale CRL and an expired root, an outsider caller, a
healthy setup with a verified card, cards probed directly when vitaled is
down."""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))

from vtest import pki as vpki  # noqa: E402
from vtest.bus import SystemBus, BusUnavailable, OUTSIDER  # noqa: E402
from vtest.daemon import vitalectl_path  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402
from vtest.tap import Tap  # noqa: E402

CTL = vitalectl_path()
NOWHERE = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus",
           "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}


def write_conf(trust_dir, extra=""):
    f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    f.write("[Trust]\nDirectory = %s\n%s" % (trust_dir, extra))
    f.close()
    os.chmod(f.name, 0o644)
    return f.name


def diag(conf, env=None, json_out=True, argv_prefix=()):
    e = dict(os.environ, TZ="UTC")
    e.update(env or {})
    args = list(argv_prefix) + [CTL] + (["--json"] if json_out else []) + ["--config", conf, "diag"]
    r = subprocess.run(args, capture_output=True, text=True, env=e, timeout=60)
    return r, (json.loads(r.stdout) if json_out and r.stdout.startswith("{") else None)


def checks(j, name):
    return [c for c in j["checks"] if c["check"] == name]


def result(j, name):
    c = checks(j, name)
    return c[0]["result"] if c else None


def test_nothing_running(t):
    conf = write_conf(vpki.trust_dir())
    r, j = diag(conf, NOWHERE)
    t.eq(r.returncode, 1, "daemon and pcscd missing: exit 1")
    t.ok(j and not j["ok"] and not j["daemon_running"], "diag --json: not ok, daemon down", j)
    c = checks(j, "vitaled running")[0]
    t.ok(c["result"] == "fail" and "systemctl start vitaled" in c["fix"],
         "daemon down: fail, with how to start it", c)
    c = checks(j, "pcscd reachable")[0]
    t.ok(c["result"] == "fail" and "systemctl" in c["fix"], "pcscd unreachable: fail, with a fix", c)
    t.eq(result(j, "pcscd installed"), "pass", "pcscd installed (deps.sh installs it)")
    t.eq(result(j, "clock"), "pass", "the clock is sane")
    t.eq(result(j, "trust store"), "info", "the trust store is still checked directly")
    t.ok(any(c["result"] == "warn" and "expired" in c["detail"] for c in checks(j, "document signer")),
         "the expired test signer is reported", j["checks"])
    t.eq(result(j, "caller"), "pass", "root may read personal data")
    t.ok(all(c["fix"] for c in j["checks"] if c["result"] in ("fail", "warn")),
         "every failure and warning has a fix", j["checks"])
    t.eq(j["failed"], sum(1 for c in j["checks"] if c["result"] == "fail"), "failed count")
    r, _ = diag(conf, NOWHERE, json_out=False)
    t.ok(re.search(r"^\[FAIL\] vitaled running: .*\n +fix: start it", r.stdout, re.M),
         "human: [FAIL] line followed by its fix", r.stdout)
    t.ok(re.search(r"^\[ OK \] clock: ", r.stdout, re.M), "human: [ OK ] lines", r.stdout)
    t.ok(re.search(r"^\d+ passed, \d+ warnings?, [1-9]\d* failed$", r.stdout, re.M),
         "human: summary line", r.stdout)
    t.ok("\033[" not in r.stdout, "human: no colours in a pipe")
    os.unlink(conf)


def test_no_roots(t):
    empty = tempfile.mkdtemp(prefix="vitalectl-trust-")
    conf = write_conf(empty)
    r, j = diag(conf, NOWHERE)
    c = checks(j, "trust roots")
    t.ok(c and c[0]["result"] == "fail" and "copy the issuer root" in c[0]["fix"]
         and empty in c[0]["fix"], "no trust roots: fail, with where to put them", j["checks"])
    os.unlink(conf)
    conf = write_conf(os.path.join(empty, "missing"))
    r, j = diag(conf, NOWHERE)
    c = checks(j, "trust store")
    t.ok(c and c[0]["result"] == "fail" and "cannot be read" in c[0]["detail"],
         "missing trust directory: fail", j["checks"])
    os.unlink(conf)
    with open(os.path.join(empty, "junk.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    conf = write_conf(empty)
    r, j = diag(conf, NOWHERE)
    c = checks(j, "trust file")
    t.ok(c and c[0]["result"] == "warn" and c[0]["detail"].startswith("not used: junk.pem"),
         "an unusable trust file is named", j["checks"])
    os.unlink(conf)
    shutil.rmtree(empty)


def test_scanners_configured(t):
    """vitaled down: the configured serial scanners are looked for directly."""
    master, slave = os.openpty()
    pts = os.ttyname(slave)
    conf = write_conf(vpki.trust_dir(), "[serial]\nDevices = %s, /nonexistent/ttyACM*\n" % pts)
    r, j = diag(conf, NOWHERE)
    c = checks(j, "serial scanner")
    t.ok(any(x["result"] == "pass" and x["detail"] == "%s present" % pts for x in c),
         "a configured scanner that is there", c)
    t.ok(any(x["result"] == "warn" and "no device matches /nonexistent/ttyACM*" in x["detail"]
             and "CDC-ACM" in x["fix"] for x in c), "a configured scanner that is missing", c)
    os.unlink(conf)
    conf = write_conf(vpki.trust_dir(), "[General]\nDisablePlugins = serial\n"
                      "[serial]\nDevices = /nonexistent/ttyACM*\n")
    r, j = diag(conf, NOWHERE)
    t.eq([x["result"] for x in checks(j, "scanners")], ["info"],
         "a disabled serial plugin: nothing to look for")
    os.unlink(conf)
    os.close(master)
    os.close(slave)


def test_uinput(t):
    """A keyboard-wedge scanner with PassThrough = keyboard (the default)
    needs /dev/uinput, read-write for the vitaled group.  The machine's own
    /dev/uinput (none on CI), then umockdev's with each ownership."""
    import grp
    conf = write_conf(vpki.trust_dir(), "[wedge]\nDevices = /nonexistent/event*\n")
    if os.path.exists("/dev/uinput"):
        t.skip("no /dev/uinput: a warning", "this machine has /dev/uinput")
    else:
        r, j = diag(conf, NOWHERE)
        c = checks(j, "uinput")
        t.ok(len(c) == 1 and c[0]["result"] == "warn" and "no /dev/uinput" in c[0]["detail"]
             and "modprobe uinput" in c[0]["fix"], "no /dev/uinput: a warning with the fix", c)
    none = write_conf(vpki.trust_dir(), "[wedge]\nDevices = /nonexistent/event*\n"
                      "PassThrough = none\n")
    r, j = diag(none, NOWHERE)
    t.eq(checks(j, "uinput"), [], "PassThrough = none: /dev/uinput is not needed")
    os.unlink(none)
    if not shutil.which("umockdev-run"):
        t.skip("/dev/uinput ownership", "umockdev-run not installed")
        os.unlink(conf)
        return
    try:
        gid = grp.getgrnam("vitaled").gr_gid
    except KeyError:
        t.skip("/dev/uinput ownership", "no vitaled group here")
        os.unlink(conf)
        return
    node = os.path.join(os.environ.get("top_srcdir", "."), "tests", "system", "uinput.umockdev")
    for group, mode, want in ((gid, 0o660, "pass"), (0, 0o600, "warn")):
        script = 'chown 0:%d "$UMOCKDEV_DIR/dev/uinput" && chmod %o "$UMOCKDEV_DIR/dev/uinput" ' \
                 '&& exec "$@"' % (group, mode)
        r, j = diag(conf, NOWHERE, argv_prefix=["umockdev-run", "-d", node, "--",
                                                "sh", "-c", script, "sh"])
        c = checks(j, "uinput") if j else r.stderr
        t.ok(c and c[0]["result"] == want, "/dev/uinput group %s mode %o: %s" % (
            "vitaled" if group else "root", mode, want), c)
    os.unlink(conf)


def make_stale_pki(d):
    """A root that expired yesterday and a CRL past its next update, made
    with the cryptography module (as openssl would; keys made now)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stale test root")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name)
           .last_update(now - datetime.timedelta(days=60))
           .next_update(now - datetime.timedelta(days=30))
           .sign(key, hashes.SHA256()))
    with open(os.path.join(d, "root.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(d, "root.crl"), "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.PEM))


def test_stale(t):
    d = tempfile.mkdtemp(prefix="vitalectl-stale-")
    try:
        make_stale_pki(d)
    except ImportError as e:
        t.skip("stale CRL and expired root", "python3-cryptography: %s" % e)
        return
    conf = write_conf(d)
    r, j = diag(conf, NOWHERE)
    c = checks(j, "CRL")
    t.ok(c and c[0]["result"] == "fail" and "stale since" in c[0]["detail"]
         and "current CRL" in c[0]["fix"], "stale CRL: fail, with a fix", j["checks"])
    c = checks(j, "issuer root")
    t.ok(c and c[0]["result"] == "fail" and "expired on" in c[0]["detail"],
         "expired root: fail", j["checks"])
    os.unlink(conf)
    shutil.rmtree(d)


def test_direct_probe(t, pcsc):
    """vitaled down, pcscd up: diag reads the readers, ATRs and profiles itself."""
    conf = write_conf(vpki.trust_dir())
    env = {"DBUS_SYSTEM_BUS_ADDRESS": NOWHERE["DBUS_SYSTEM_BUS_ADDRESS"],
           "PCSCLITE_CSOCK_NAME": pcsc.socket}
    pcsc.insert(0, profile="card", variant="reference")
    pcsc.insert(1, profile="phone", variant="reference")
    r, j = diag(conf, env)
    t.eq(result(j, "pcscd reachable"), "pass", "pcscd reachable through its socket")
    c = checks(j, "card readers")
    t.ok(c and c[0]["result"] == "pass" and c[0]["detail"] == "2 readers", "two readers", c)
    c = checks(j, "card in Virtual PCD 00 00")
    t.ok(c and c[0]["result"] == "pass" and re.match(
        r"ATR 3B( [0-9A-F]{2})+; open-profile card application found", c[0]["detail"]),
        "the card: ATR and open-profile card application", c)
    c = checks(j, "card in Virtual PCD 00 01")
    t.ok(c and c[0]["result"] == "pass" and "open-profile phone application found" in c[0]["detail"],
         "the phone: open-profile phone application", c)
    pcsc.insert(1, profile="legacy", variant="reference")
    r, j = diag(conf, env)
    c = checks(j, "card in Virtual PCD 00 01")
    t.ok(c and "legacy Vitale 2 application found" in c[0]["detail"], "a legacy Vitale 2 card", c)
    pcsc.insert(1, profile="iso7816", variant="reference")
    r, j = diag(conf, env)
    c = checks(j, "card in Virtual PCD 00 01")
    t.ok(c and c[0]["result"] == "warn" and "none of the known" in c[0]["detail"],
         "another card: a warning, not a failure", c)
    pcsc.remove(0)
    pcsc.remove(1)
    os.unlink(conf)


def wait_verdict(bus, reader, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = bus.run_as("root", [CTL, "--json", "readers"])
        if r.returncode == 0:
            for rd in json.loads(r.stdout):
                if rd["name"] == reader and rd["card"] and rd["card"]["state"] == "done":
                    return rd["card"]["status"]
        time.sleep(0.1)
    raise TimeoutError("no verdict in " + reader)


def test_with_daemon(t, pcsc):
    with SystemBus() as bus:
        conf_text = "[Trust]\nDirectory = %s\n[General]\nEnablePlugins = pcsc\n" % vpki.trust_dir()
        d = bus.start_vitaled(conf_text, env={"PCSCLITE_CSOCK_NAME": pcsc.socket})
        os.chmod(d.conf_path, 0o644)
        pcsc.insert(0, profile="card", variant="reference")
        t.eq(wait_verdict(bus, "Virtual PCD 00 00"), "verified", "the card is verified")
        env = {"DBUS_SYSTEM_BUS_ADDRESS": bus.address, "PCSCLITE_CSOCK_NAME": pcsc.socket}
        r, j = diag(d.conf_path, env)
        t.eq(r.returncode, 0, "healthy setup with a verified card: exit 0")
        t.ok(j["ok"] and j["daemon_running"] and j["failed"] == 0, "diag --json: ok", j)
        c = checks(j, "card in Virtual PCD 00 00")
        t.ok(c and c[0]["result"] == "pass" and re.search(r"; physical card, verified$", c[0]["detail"]),
             "the card as the daemon read it", c)
        t.eq(result(j, "D-Bus policy"), "pass", "the daemon owns its name: the policy works")
        t.eq(checks(j, "trust store in use"), [], "the daemon's trust store matches the directory")
        pcsc.insert(1, profile="card", variant="wrong-hash")
        t.eq(wait_verdict(bus, "Virtual PCD 00 01"), "forged", "the forged card is refused")
        r, j = diag(d.conf_path, env)
        t.eq(r.returncode, 1, "a forged card in a reader: exit 1")
        c = checks(j, "card in Virtual PCD 00 01")
        t.ok(c and c[0]["result"] == "fail" and "forged" in c[0]["detail"]
             and "refuse the card" in c[0]["fix"], "the forged card: fail, with what to do", c)
        pcsc.remove(1)
        # a member passes the caller check; an outsider fails it, with the fix
        member = bus.argv_as("member", [])
        r, j = diag(d.conf_path, env, argv_prefix=member)
        t.eq(result(j, "caller"), "pass", "a vitaled-clients member passes the caller check")
        t.eq(result(j, "vitaled running"), "pass", "a member reaches the daemon")
        outsider = bus.argv_as("outsider", [])
        r, j = diag(d.conf_path, env, argv_prefix=outsider)
        t.eq(r.returncode, 1, "an outsider: exit 1")
        c = checks(j, "caller")
        t.ok(c and c[0]["result"] == "fail"
             and "usermod -aG vitaled-clients %s" % OUTSIDER in c[0]["fix"],
             "the outsider is told how to join the group", c)
        c = checks(j, "vitaled running")
        t.ok(c and c[0]["result"] == "fail" and "policy refuses" in c[0]["fix"],
             "the outsider: the bus refuses, and diag says why", c)
        r, _ = diag(d.conf_path, env, json_out=False, argv_prefix=outsider)
        t.ok(re.search(r"^\[FAIL\] caller: %s is not in the client group" % OUTSIDER, r.stdout, re.M),
             "human: the outsider's caller line", r.stdout)
        pcsc.remove(0)


def main():
    t = Tap()
    t.run(test_nothing_running)
    t.run(test_no_roots)
    t.run(test_stale)
    t.run(test_scanners_configured)
    t.run(test_uinput)
    try:
        with Pcsc() as pcsc:
            pcsc.share_socket()  # the daemon's user reaches pcscd's socket
            t.run(test_direct_probe, pcsc)
            t.run(test_with_daemon, pcsc)
    except (HarnessUnavailable, BusUnavailable) as e:
        t.skip("diag with pcscd and the daemon", str(e))
    t.done()


if __name__ == "__main__":
    main()
