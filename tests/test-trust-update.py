#!/usr/bin/python3
"""vitaled-trust-update, the real program against a real HTTPS server: the
test runs in its own network and mount namespaces (loopback only), the
server's CA and certificate are made with openssl now, bundles are real CMS
SignedData.  Every case checks the exit code, the one line printed and
that nothing half-written is left in the drop directory.

End to end: bundles built by the real vitaled-trust-bundle, the real
daemon on a private system bus watching the drop directory, the updater
run as an unprivileged user of the vitaled-update group (as its unit's
user vitaled-update is); QR tokens scanned on a pty scanner read `revoked` and
`opposed` once the fetched set is installed, and a rollback or a bundle of
an unknown signer is refused with the old set still serving.  Another
install ending while the updater waits is not reported as its own."""
import grp
import hashlib
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.paths import builddir  # noqa: E402
from vtest import bundle as vbundle, pki as vpki, qr, soak  # noqa: E402
from vtest.bus import SystemBus, uid_of  # noqa: E402
from vtest.proc import wait_for  # noqa: E402

NS_MARK = "VTEST_TRUST_UPDATE_NS"
if os.environ.get(NS_MARK) != "1":
    # Own network (nothing reaches the outside, nothing outside sees the
    # server) and own mounts (the tmpfs and read-only drop directories).
    os.environ[NS_MARK] = "1"
    os.execvp("unshare", ["unshare", "--net", "--mount", "--propagation", "private",
                          sys.executable] + sys.argv)

UPDATER = os.path.join(builddir(), "tools", "vitaled-trust-update")
BUNDLE_OID = "2.25.278598275296730131776331395509913683680"
MAX_SIZE = 65536

t = Tap()
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
work = tempfile.mkdtemp(prefix="vitaled-trust-update-")
cleanup = [work]


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=work)


def make_pki():
    """A CA, the server's certificate (localhost, 127.0.0.1) and a signer for
    test bundles; none of them trusted by the system."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test https CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(work, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "signer.key", "-out", "signer.pem", "-days", "2",
            "-subj", "/CN=test bundle signer")


def cms(name, content, oid=BUNDLE_OID):
    """A DER CMS SignedData of content, with eContentType oid (None: id-data)."""
    src = os.path.join(work, name + ".content")
    with open(src, "wb") as f:
        f.write(content)
    extra = ["-econtent_type", oid] if oid else []
    openssl("cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", src,
            "-signer", "signer.pem", "-inkey", "signer.key", "-out", name, *extra)
    with open(os.path.join(work, name), "rb") as f:
        return f.read()


# ---- the server -----------------------------------------------------------

class Server:
    """HTTPS on 127.0.0.1: each path is one behaviour of a real server."""

    def __init__(self):
        self.bundle = b""
        self.etag = ""
        self.seen = []		# (path, If-None-Match, If-Modified-Since)
        self.routes = {}
        self.endless_cut, self.endless_sent, self.slow_sent = False, 0, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.seen.append((self.path, self.headers.get("If-None-Match"),
                                   self.headers.get("If-Modified-Since")))
                route = outer.routes.get(self.path)
                if not route:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass	# the client gave up: that is the case under test

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(work, "server.pem"), os.path.join(work, "server.key"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path, scheme="https"):
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, path)


def send_body(h, body, headers=()):
    h.send_response(200)
    h.send_header("Content-Type", "application/octet-stream")
    h.send_header("Content-Length", str(len(body)))
    for k, v in headers:
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


def route_bundle(srv):
    def serve(h):
        if h.headers.get("If-None-Match") == srv.etag:
            h.send_response(304)
            h.send_header("ETag", srv.etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        send_body(h, srv.bundle, [("ETag", srv.etag),
                                  ("Last-Modified", "Mon, 07 Dec 2026 04:00:00 GMT")])
    return serve


def route_e2e(srv):
    def serve(h):
        if h.headers.get("If-None-Match") == srv.e2e_etag:
            h.send_response(304)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        send_body(h, srv.e2e, [("ETag", srv.e2e_etag)])
    return serve


def route_static(body):
    return lambda h: send_body(h, body)


def route_slow(srv):
    # Announces a plausible size, then trickles far under LowSpeedLimit.
    def serve(h):
        h.send_response(200)
        h.send_header("Content-Length", "20000")
        h.end_headers()
        for _ in range(20000):
            h.wfile.write(b"\x30")
            h.wfile.flush()
            srv.slow_sent += 1
            time.sleep(0.1)
    return serve


def route_endless(srv):
    # No Content-Length (close-delimited): only counting while receiving
    # can stop it.  It looks like a bundle's start, then goes on (1 GiB).
    def serve(h):
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        chunk = b"\x30\x84" + b"\0" * 16382
        srv.endless_sent = 0
        try:
            for _ in range((1 << 30) // len(chunk)):
                h.wfile.write(chunk)
                srv.endless_sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            srv.endless_cut = True
            raise
    return serve


def route_announced_huge(h):
    h.send_response(200)
    h.send_header("Content-Length", str(1 << 30))
    h.end_headers()
    h.wfile.write(b"\x30" * 1024)


def route_truncated(srv):
    def serve(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(srv.bundle)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(srv.bundle[:len(srv.bundle) // 2])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)
    return serve


def route_redirect(location):
    def serve(h):
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return serve


# ---- running the updater ----------------------------------------------------

class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err
        self.text = out + err

    def __repr__(self):
        return "rc=%d stdout=%r stderr=%r" % (self.rc, self.out, self.err)


def updater(url, drop, state, install_timeout=0, ca=True, extra="", start=False):
    """Run the updater to its end (a Run), or start it (its Popen)."""
    conf = os.path.join(work, "vitaled.conf")
    with open(conf, "w") as f:
        f.write("[Trust]\nDropDirectory = %s\n\n[TrustUpdate]\nURL = %s\nMaxSize = %d\n"
                "ConnectTimeout = 10\nTimeout = 120\nLowSpeedLimit = 1000\nLowSpeedTime = 2\n"
                "InstallTimeout = %d\n%s%s" % (drop, url, MAX_SIZE, install_timeout,
                                               "CAFile = %s\n" % os.path.join(work, "ca.pem")
                                               if ca else "", extra))
    env = dict(os.environ, STATE_DIRECTORY=state,
               DBUS_SYSTEM_BUS_ADDRESS="unix:path=" + os.path.join(work, "no-bus"))
    if start:
        return subprocess.Popen([UPDATER, "--config", conf], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    # The timeout only keeps a hung run from hanging the suite.
    r = subprocess.run([UPDATER, "--config", conf], capture_output=True, text=True, env=env,
                       timeout=300)
    return Run(r.returncode, r.stdout, r.stderr)


def fresh_dirs(name):
    drop = os.path.join(work, name, "incoming")
    state = os.path.join(work, name, "state")
    os.makedirs(drop)
    os.makedirs(state)
    return drop, state


def one_line(r):
    lines = r.text.splitlines()
    return len(lines) == 1 and lines[0].startswith("vitaled-trust-update: ")


def check_failure(name, r, code, words, drop):
    t.diag("%s: exit %d: %s" % (name, r.rc, r.text.strip()))
    t.ok(r.rc == code and one_line(r) and all(w in r.err for w in words),
         "%s: exit %d, one line saying %s" % (name, code, " / ".join(words)), repr(r))
    t.eq(os.listdir(drop), [], "%s: nothing left in the drop directory" % name)


# ---- cases --------------------------------------------------------------------

def test_fetch(t, srv):
    drop, state = fresh_dirs("fetch")
    r = updater(srv.url("/bundle"), drop, state)
    t.ok(r.rc == 12 and one_line(r) and "handed to the daemon" in r.out, "a bundle is fetched and "
         "handed over (InstallTimeout=0: exit 12)", repr(r))
    path = os.path.join(drop, "vitaled-trust-update.bundle")
    got = open(path, "rb").read() if os.path.exists(path) else b""
    t.ok(got == srv.bundle, "the drop directory holds the bundle, byte for byte")
    t.eq(os.listdir(drop), ["vitaled-trust-update.bundle"], "and nothing else (no temp file)")
    t.eq(oct(os.stat(path).st_mode & 0o777), "0o644", "readable by the daemon's user")
    t.eq(os.listdir(state), [], "no ETag kept for a bundle no daemon installed")

    # Nobody takes it: the bundle stays for the daemon, the outcome says so.
    os.unlink(path)
    r = updater(srv.url("/bundle"), drop, state, install_timeout=1)
    t.ok(r.rc == 32 and one_line(r) and "did not take" in r.err,
         "no daemon to take it: exit 32, said so", repr(r))
    t.eq(os.listdir(drop), ["vitaled-trust-update.bundle"], "the bundle waits for the daemon")


def test_not_modified(t, srv):
    drop, state = fresh_dirs("not-modified")
    # The validators the updater keeps once a daemon installed the bundle.
    with open(os.path.join(state, "validators"), "w") as f:
        f.write("ETag: %s\nLast-Modified: Mon, 07 Dec 2026 04:00:00 GMT\n" % srv.etag)
    srv.seen.clear()
    r = updater(srv.url("/bundle"), drop, state)
    t.ok(r.rc == 10 and one_line(r) and "not modified" in r.out, "304: exit 10, not modified",
         repr(r))
    t.eq(srv.seen, [("/bundle", srv.etag, "Mon, 07 Dec 2026 04:00:00 GMT")],
         "the request carried If-None-Match and If-Modified-Since")
    t.eq(os.listdir(drop), [], "304: nothing in the drop directory")


def test_transfer_failures(t, srv):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed_port = s.getsockname()[1]
    s.close()
    cases = [
        ("server down", "https://127.0.0.1:%d/bundle" % closed_port, 20, ["server down"]),
        ("slow server", srv.url("/slow"), 21, ["too slow"]),
        ("endless response", srv.url("/endless"), 22, ["too large", "nothing written"]),
        ("huge Content-Length", srv.url("/announced-huge"), 22, ["too large"]),
        ("truncated download", srv.url("/truncated"), 23, ["truncated"]),
        ("random bytes", srv.url("/random"), 24, ["not a trust bundle"]),
        ("a CMS SignedData of another content type", srv.url("/other-cms"), 24,
         ["not a trust bundle"]),
        ("the bundle content type over no manifest", srv.url("/no-manifest"), 24,
         ["not a trust bundle"]),
        ("a manifest under another content type", srv.url("/manifest-as-data"), 24,
         ["not a trust bundle"]),
        ("404", srv.url("/missing"), 25, ["HTTP 404"]),
        ("http:// URL", srv.url("/bundle", "http"), 27, ["only https://"]),
        ("redirect to http://", srv.url("/to-http"), 27, ["only https://"]),
    ]
    for name, url, code, words in cases:
        drop, state = fresh_dirs(name.replace(" ", "-").replace("/", ""))
        check_failure(name, updater(url, drop, state), code, words, drop)
    t.ok(wait_for(lambda: srv.endless_cut), "endless response: the client hung up while it was being sent "
         "(the server could send %d bytes of 1 GiB)" % srv.endless_sent)

    drop, state = fresh_dirs("untrusted")
    check_failure("server certificate not trusted (no CAFile)",
                  updater(srv.url("/bundle"), drop, state, ca=False), 26, ["TLS"], drop)

    drop, state = fresh_dirs("redirect-https")
    r = updater(srv.url("/to-https"), drop, state)
    t.ok(r.rc == 12 and os.listdir(drop) == ["vitaled-trust-update.bundle"],
         "a redirect to https:// is followed", repr(r))


def test_drop_dir_failures(t, srv):
    # Full: a tmpfs smaller than the bundle served (which MaxSize allows).
    drop, state = fresh_dirs("full")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", drop], check=True)
    r = updater(srv.url("/big"), drop, state, extra="")
    check_failure("disk full", r, 30, ["cannot write", "No space left"], drop)
    df = os.statvfs(drop)
    t.eq(df.f_bfree, df.f_blocks, "disk full: the tmpfs is empty again (no unnamed file kept)")

    # Read-only: a read-only bind mount of the directory.
    drop, state = fresh_dirs("read-only")
    subprocess.run(["mount", "--bind", drop, drop], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", drop], check=True)
    srv.seen.clear()
    check_failure("read-only drop directory", updater(srv.url("/bundle"), drop, state), 30,
                  ["cannot write", "Read-only"], drop)
    t.eq(srv.seen, [], "read-only: nothing downloaded for nothing")

    # Killed while the data arrive: the unnamed file dies with it.
    drop, state = fresh_dirs("killed")
    srv.slow_sent = 0
    p = updater(srv.url("/slow"), drop, state, extra="LowSpeedLimit = 1\nLowSpeedTime = 3600\n",
                start=True)
    try:
        sent = wait_for(lambda: srv.slow_sent >= 10)
    finally:
        p.kill()
        p.wait()
    t.ok(sent, "killed: the transfer was under way (%d bytes sent)" % srv.slow_sent)
    t.eq(os.listdir(drop), [], "kill -9 during the download: nothing in the drop directory")

    drop, state = fresh_dirs("missing")
    os.rmdir(drop)
    r = updater(srv.url("/bundle"), drop, state)
    t.ok(r.rc == 30 and "No such file" in r.err, "missing drop directory: exit 30", repr(r))


def test_config(t, srv):
    drop, state = fresh_dirs("config")
    r = updater(srv.url("/bundle"), drop, state, extra="MaxSize = 12\n")
    t.ok(r.rc == 78 and "MaxSize: 12 is out of range" in r.err and one_line(r),
         "a bad [TrustUpdate] value: exit 78, file:line", repr(r))
    r = updater(srv.url("/bundle"), drop, state, extra="Proxy = x\n")
    t.ok(r.rc == 78 and "unknown key 'Proxy'" in r.err, "an unknown key: exit 78", repr(r))
    r = updater("", drop, state)
    t.ok(r.rc == 11 and "no [TrustUpdate] URL" in r.out, "no URL: exit 11, nothing to do",
         repr(r))
    t.eq(os.listdir(drop), [], "config errors: nothing in the drop directory")


def test_language(t, srv):
    """--help in the admin's language; the outcome lines, the journal's, in English."""
    fr = dict(os.environ, LANG="fr_FR.UTF-8", LC_ALL="", LANGUAGE="",
              VITALED_UPDATE_LOCALEDIR=os.path.join(builddir(), "locale"))
    r = subprocess.run([UPDATER, "--help"], capture_output=True, text=True, env=fr, timeout=60)
    t.ok(r.returncode == 0 and r.stdout.startswith("Utilisation : vitaled-trust-update")
         and "cette aide" in r.stdout, "--help in French under LANG=fr_FR.UTF-8", r.stdout)
    r = subprocess.run([UPDATER, "--help"], capture_output=True, text=True,
                       env=dict(fr, LANG="C"), timeout=60)
    t.ok(r.returncode == 0 and r.stdout.startswith("Usage: vitaled-trust-update"),
         "--help in English under LANG=C", r.stdout)
    drop, state = fresh_dirs("language")
    conf = os.path.join(work, "language.conf")
    with open(conf, "w") as f:
        f.write("[Trust]\nDropDirectory = %s\n" % drop)
    r = subprocess.run([UPDATER, "--config", conf], capture_output=True, text=True,
                       env=dict(fr, STATE_DIRECTORY=state), timeout=60)
    t.ok(r.returncode == 11 and "no [TrustUpdate] URL" in r.stdout,
         "under LANG=fr_FR.UTF-8 the outcome line stays English, for the journal", r.stdout)


# ---- end to end, with the daemon ----------------------------------------------

UPDATE_GROUP = "vitaled-update"


def update_gid():
    try:
        return grp.getgrnam(UPDATE_GROUP).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", UPDATE_GROUP], check=True)
        return grp.getgrnam(UPDATE_GROUP).gr_gid


def trust_sets(base):
    """old/: the test PKI's trust set without its CRL and opposition list
    (what the PC has); new/: the whole of it (what the issuer publishes)."""
    old = os.path.join(base, "old")
    shutil.copytree(vpki.trust_dir(), old)
    os.unlink(os.path.join(old, "root.crl"))
    open(os.path.join(old, "opposition.txt"), "w").close()
    return old, vpki.trust_dir()


def test_daemon(t, srv):
    base = os.path.join(work, "e2e")
    os.makedirs(base)
    for p in (work, base):	# the updater's user passes through
        os.chmod(p, 0o755)
    lists = vbundle.TrustListPki(os.path.join(base, "lists"))
    old, new = trust_sets(base)
    bundles = {}
    for name, version, signer in (("v2", 2, "signer-a"), ("v1", 1, "signer-a"),
                                  ("foreign", 3, "signer-foreign")):
        out = os.path.join(base, name + ".bundle")
        lists.build(new, out, version, signer=signer)
        with open(out, "rb") as f:
            bundles[name] = f.read()

    drop = os.path.join(base, "incoming")
    os.makedirs(drop)
    os.chown(drop, 0, update_gid())
    os.chmod(drop, 0o2770)
    state = os.path.join(base, "updater-state")
    os.makedirs(state)
    os.chown(state, uid_of("outsider"), -1)
    ca = os.path.join(base, "ca.pem")
    shutil.copy(os.path.join(work, "ca.pem"), ca)
    os.chmod(ca, 0o644)

    # Short: the daemon's verdict line cuts a reader id at 63 characters.
    scanners = tempfile.mkdtemp(prefix="vtu-")
    cleanup.append(scanners)
    conf = ("[General]\nEnablePlugins = serial\n\n"
            "[Trust]\nDirectory = %s\nListRootDirectory = %s\nDropDirectory = %s\n\n"
            "[serial]\nDevices = %s/scanner*\n\n"
            "[TrustUpdate]\nURL = %s\nCAFile = %s\nMaxSize = %d\nInstallTimeout = 120\n"
            % (old, lists.roots, drop, scanners, srv.url("/e2e"), ca, 1 << 20))
    bus = SystemBus()
    bus.start()
    try:
        d = bus.start_vitaled(conf, user="root")
    except BaseException:
        bus.stop()
        raise
    os.chmod(d.conf_path, 0o644)
    path = os.path.join(scanners, "scanner0")
    rid = "serial-" + path

    def serve(name, tag=""):
        srv.e2e = bundles[name]
        srv.e2e_etag = '"%s%s"' % (hashlib.sha256(bundles[name]).hexdigest()[:32], tag)

    def run_updater(groups=True):
        # the unit's user: no right of its own but the group
        pw = uid_of("outsider")
        r = subprocess.run(["setpriv", "--reuid=%d" % pw, "--regid=%d" % pw,
                            "--groups=%d" % update_gid() if groups else "--clear-groups", "--",
                            UPDATER, "--config", d.conf_path],
                           capture_output=True, text=True, timeout=300,
                           env=bus.env({"STATE_DIRECTORY": state}))
        r = Run(r.returncode, r.stdout, r.stderr)
        t.diag("updater: exit %d: %s" % (r.rc, r.text.strip()))
        return r

    def version(who="member"):
        r = bus.call_as(who, "/org/vitaled", "org.freedesktop.DBus.Properties",
                        "Get", "org.vitaled.Manager1", "TrustBundleVersion")
        return r.get("ok", r)

    def verdicts(sc, pos):
        got = {}
        for variant in ("valid", "revoked", "opposed"):
            texts, _ = qr.token(variant)
            sc.scan(texts[0])
            got[variant], _, pos = qr.wait_verdict(d, rid, pos)
        return got, pos

    with qr.scenario(t, "trust update end to end", bus, d):
        sc = soak.Scanner(path)
        d.wait_log(r"reader %s: added \(qr-serial" % rid)
        pos = d.log_size()
        got, pos = verdicts(sc, pos)
        t.eq(got, {"valid": "verified", "revoked": "verified", "opposed": "verified"},
             "before the update: no CRL, no opposition on this PC")

        serve("v2")
        r = run_updater(groups=False)
        t.ok(r.rc == 30 and "Permission denied" in r.err,
             "without the vitaled-update group: cannot write into the drop directory, exit 30",
             repr(r))
        r = run_updater()
        t.ok(r.rc == 0 and one_line(r) and "installed version 2" in r.out,
             "a new bundle is fetched and installed: exit 0, installed version 2", repr(r))
        t.eq(os.listdir(drop), [], "the daemon took it: the drop directory is empty")
        t.eq(version(), 2, "Manager1.TrustBundleVersion is 2")
        denied = version("outsider")
        t.ok(isinstance(denied, dict) and denied.get("error", "").endswith("AccessDenied"),
             "the bus still refuses those outside the client and update groups", denied)
        got, pos = verdicts(sc, pos)
        t.eq(got, {"valid": "verified", "revoked": "revoked", "opposed": "opposed"},
             "after it: the revoked signer's token reads revoked, the opposed serial opposed")

        srv.seen.clear()
        r = run_updater()
        t.ok(r.rc == 10 and "not modified" in r.out, "the next run: 304, exit 10", repr(r))
        t.ok(srv.seen and srv.seen[-1][1] == srv.e2e_etag,
             "it sent the ETag of the installed bundle", srv.seen)

        # The same bundle under a new ETag (the server was redeployed).
        serve("v2", "-again")
        r = run_updater()
        t.ok(r.rc == 0 and "version 2 is already installed" in r.out,
             "the same version again: a no-op, exit 0, said so", repr(r))
        t.eq(os.listdir(drop), [], "the same version again: the drop directory is empty")

        for name, why in (("v1", "rollback"), ("foreign", "unknown signer")):
            serve(name)
            r = run_updater()
            t.ok(r.rc == 31 and one_line(r) and "refused by the daemon: " in r.err
                 and "still serving version 2" in r.err,
                 "%s: refused by the daemon, exit 31, its reason given" % why, repr(r))
            t.eq(os.listdir(drop), [], "%s: nothing left in the drop directory" % why)
            t.eq(version(), 2, "%s: version 2 still installed" % why)
        got, pos = verdicts(sc, pos)
        t.eq(got, {"valid": "verified", "revoked": "revoked", "opposed": "opposed"},
             "the old set still serves after the refusals")
        sc.unplug()


SHIM = os.path.join(builddir(), "tests", "trust", ".libs", "crash-at.so")


def test_meanwhile(t, srv):
    """Someone else's install runs while the updater waits for its own: the
    updater reports its bundle's outcome, not the other's.  The other
    install (version 3, dropped first) is held at its first disk step by
    tests/trust/crash-at.c until the updater's bundle (version 1) waits
    behind it; then v3 goes in and the updater's v1 is refused (rollback)."""
    if not os.path.exists(SHIM):
        t.ok(False, "an install made meanwhile", "%s not built (make check)" % SHIM)
        return
    base = os.path.join(work, "meanwhile")
    os.makedirs(base)
    os.chmod(base, 0o755)
    lists = vbundle.TrustListPki(os.path.join(base, "lists"))
    old, new = trust_sets(base)
    for name, version in (("other", 3), ("mine", 1)):
        lists.build(new, os.path.join(base, name + ".bundle"), version)
    with open(os.path.join(base, "mine.bundle"), "rb") as f:
        srv.routes["/meanwhile"] = route_static(f.read())
    drop = os.path.join(base, "incoming")
    state = os.path.join(base, "updater-state")
    os.makedirs(drop)
    os.makedirs(state)
    go = os.path.join(base, "go")
    conf = ("[General]\nEnablePlugins = \n\n"
            "[Trust]\nDirectory = %s\nListRootDirectory = %s\nDropDirectory = %s\n\n"
            "[TrustUpdate]\nURL = %s\nCAFile = %s\nInstallTimeout = 120\n"
            % (old, lists.roots, drop, srv.url("/meanwhile"), os.path.join(work, "ca.pem")))
    asan = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    bus = SystemBus()
    bus.start()
    try:
        d = bus.start_vitaled(conf, user="root", env={
            "LD_PRELOAD": SHIM, "VTEST_CRASH_AT": "1", "VTEST_STALL_UNTIL": go,
            "ASAN_OPTIONS": asan})
        shutil.copy(os.path.join(base, "other.bundle"), os.path.join(drop, ".t"))
        os.rename(os.path.join(drop, ".t"), os.path.join(drop, "a-other.bundle"))
        d.wait_log(r"crash-at: step 1 \(\w+\): stalled", 60)
        p = subprocess.Popen([UPDATER, "--config", d.conf_path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=bus.env({"STATE_DIRECTORY": state}))
        mine = os.path.join(drop, "vitaled-trust-update.bundle")
        wait_for(lambda: os.path.exists(mine) or p.poll() is not None, 120)
        open(go, "w").close()
        out, err = p.communicate(timeout=300)
        t.diag("updater: exit %d: %s" % (p.returncode, (out + err).strip()))
        d.wait_log(r"bundle version 3 from drop:a-other.bundle installed")
        d.wait_log(r"bundle from drop:vitaled-trust-update.bundle refused: .*rollback")
        t.ok(p.returncode == 31 and "refused by the daemon: " in err
             and "still serving version 3" in err,
             "another install went in meanwhile: the updater's own bundle is reported "
             "refused (exit 31), not the other's as installed", (p.returncode, out, err))
        t.eq(os.listdir(state), [], "no ETag kept for the refused bundle")
        d.stop_checked(t)
    finally:
        if not os.path.exists(go):
            open(go, "w").close()
        bus.stop()


def main():
    try:
        make_pki()
    except (OSError, subprocess.CalledProcessError) as e:
        t.bail("cannot make the test PKI: %s" % e)
    srv = Server()
    # signed by a certificate no daemon here trusts: the daemon is not needed
    now = int(time.time())
    srv.bundle = cms("bundle.der", vbundle.manifest(
        1, now, now + 86400, [("opposition.txt", b"VTX0000000001\n" * 100)]))
    srv.etag = '"%s"' % hashlib.sha256(srv.bundle).hexdigest()[:32]
    big = cms("big.der", os.urandom(40000))
    srv.routes = {
        "/bundle": route_bundle(srv),
        "/big": route_static(big),
        "/slow": route_slow(srv),
        "/endless": route_endless(srv),
        "/announced-huge": route_announced_huge,
        "/truncated": route_truncated(srv),
        "/random": route_static(os.urandom(3000)),
        "/other-cms": route_static(cms("other.der", b"not a bundle", oid=None)),
        "/no-manifest": route_static(cms("nomanifest.der", b"a trust bundle's manifest " * 40)),
        "/manifest-as-data": route_static(cms("asdata.der", vbundle.manifest(
            1, now, now + 86400, [("opposition.txt", b"")]), oid=None)),
        "/to-http": route_redirect(srv.url("/bundle", "http")),
        "/to-https": route_redirect(srv.url("/bundle")),
        "/e2e": route_e2e(srv),
    }
    for test in (test_fetch, test_not_modified, test_transfer_failures,
                 test_drop_dir_failures, test_config, test_language, test_daemon,
                 test_meanwhile):
        t.run(test, srv)
    srv.httpd.shutdown()


try:
    main()
finally:
    subprocess.run(["umount", "-R", work], capture_output=True)
    for sub in ("full/incoming", "read-only/incoming"):
        subprocess.run(["umount", os.path.join(work, sub)], capture_output=True)
    for d in cleanup:
        shutil.rmtree(d, ignore_errors=True)
t.done()
