"""Real browsers for the web bridge's end-to-end tests: a local HTTPS server
at named origins, a test CA made with openssl, headless Chromium driven over
the DevTools protocol and Firefox ESR over WebDriver BiDi, each with its own
profile and HOME, as a given desktop user.

    from vtest.browser import Site, Chromium, Firefox

    with Site(docroot, names=["reception.test", "other.test"]) as site:
        site.url("reception.test", "/demo/")      # https://reception.test:PORT/demo/
        site.http_url("reception.test", "/x")     # the same files over plain http
        with Chromium(ext_dir, site, user="member", hosts_dir=...) as b:
            tab = b.open(url)                     # a new tab; tab.eval(js), tab.wait(js)
            tab.screenshot(path); tab.close()
            b.log()                               # the browser's stderr: console
                                                  #   lines of pages and of the extension
    Firefox(ext_dir, site, user=...) has the same open/log.

The browser runs as `user` ("root", "member", "outsider": vtest.bus, setpriv); the files it
reads (extension, host, profile) are put in a directory it can read: the
tree may be private.  Needs Debian's chromium / firefox-esr, openssl,
certutil (libnss3-tools) and python3-websocket (run with /usr/bin/python3).
"""
import base64
import hashlib
import http.server
import json
import os
import pwd
import re
import shutil
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from .bus import uid_of
from .proc import Service, kill, pdeathsig, wait_for

CHROMIUM = "/usr/lib/chromium/chromium"  # /usr/bin/chromium is a wrapper adding flags
FIREFOX = "/usr/bin/firefox-esr"


class BrowserUnavailable(Exception):
    pass


def _run(*argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def make_certs(d, names):
    """A test CA and a leaf for names in d: (ca.pem, leaf.pem, leaf.key)."""
    ca, leaf = os.path.join(d, "ca"), os.path.join(d, "leaf")
    _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=vitaled web test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", ca + ".key", "-out", ca + ".pem")
    _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=" + names[0], "-keyout", leaf + ".key", "-out", leaf + ".csr")
    with open(leaf + ".ext", "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
                % ",".join("DNS:" + n for n in names))
    _run("openssl", "x509", "-req", "-in", leaf + ".csr", "-CA", ca + ".pem", "-CAkey",
         ca + ".key", "-CAcreateserial", "-days", "2", "-extfile", leaf + ".ext",
         "-out", leaf + ".pem")
    return ca + ".pem", leaf + ".pem", leaf + ".key"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map,
                          **{".js": "text/javascript", ".mjs": "text/javascript"})

    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Site(Service):
    """docroot over HTTPS (and plain HTTP) on 127.0.0.1, under every name
    of names (the browsers map them to 127.0.0.1)."""

    def __init__(self, docroot, names):
        self.docroot = docroot
        self.names = list(names)
        self.dir = None
        self.servers = []

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="vtest-site-")
        self.ca, cert, key = make_certs(self.dir, self.names)
        handler = lambda *a, **kw: _Handler(*a, directory=self.docroot, **kw)  # noqa: E731
        tls = _Server(("127.0.0.1", 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        plain = _Server(("127.0.0.1", 0), handler)
        for s in (tls, plain):
            threading.Thread(target=s.serve_forever, daemon=True).start()
            self.servers.append(s)
        self.port, self.http_port = tls.server_address[1], plain.server_address[1]

    def url(self, name, path):
        return "https://%s:%d%s" % (name, self.port, path)

    def origin(self, name):
        return "https://%s:%d" % (name, self.port)

    def http_url(self, name, path):
        return "http://%s:%d%s" % (name, self.http_port, path)

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()
        self.servers = []
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _ws(url):
    try:
        import websocket
    except ImportError as e:
        raise BrowserUnavailable("python3-websocket missing (run with /usr/bin/python3): %s" % e)
    return websocket.create_connection(url, timeout=60, suppress_origin=True)


class _Rpc:
    """JSON over a websocket, one call at a time (CDP and BiDi alike)."""

    def __init__(self, url):
        self.ws = _ws(url)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m))
                return m["result"]

    def close(self):
        self.ws.close()


def _user_dir(prefix, user):
    """A fresh directory the browser's user owns (and nobody else reads)."""
    pw = pwd.getpwuid(uid_of(user))
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)  # its children are the user's; the test (root) reads the logs
    return d, pw


def _chown_tree(top, pw):
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    os.chown(top, pw.pw_uid, pw.pw_gid)


def _as_user(pw):
    if pw.pw_uid == 0:
        return []
    return ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--init-groups", "--"]


class Browser(Service):
    """What Chromium and Firefox share: a work dir the user owns (HOME,
    profile, a readable copy of the extension), the process and its log."""

    binary = None

    def __init__(self, ext_dir, site, user, env=None):
        self.ext_src = ext_dir
        self.site = site
        self.user = user
        self.extra_env = dict(env or {})
        self.proc = None
        self.work = None

    def _prepare(self):
        if not os.access(self.binary, os.X_OK):
            raise BrowserUnavailable("%s is not installed" % self.binary)
        if not shutil.which("certutil"):
            raise BrowserUnavailable("certutil (libnss3-tools) is not installed")
        self.work, self.pw = _user_dir("vtest-browser-", self.user)
        self.home = os.path.join(self.work, "home")
        self.profile = os.path.join(self.work, "profile")
        self.ext = os.path.join(self.work, "extension")
        os.makedirs(self.home)
        os.makedirs(self.profile)
        shutil.copytree(self.ext_src, self.ext)
        self.log_path = os.path.join(self.work, "browser.log")

    def env(self):
        e = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        e.update(HOME=self.home, USER=self.pw.pw_name, LOGNAME=self.pw.pw_name, TMPDIR=self.work)
        e.update(self.extra_env)
        return e

    def _spawn(self, argv, **kw):
        _chown_tree(self.work, self.pw)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(_as_user(self.pw) + argv, env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=kw.pop("stderr", log), preexec_fn=pdeathsig,
                                     cwd=self.work, **kw)
        log.close()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def pids(self):
        """Every process of the browser's tree (the native hosts too)."""
        out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True,
                             text=True).stdout
        rows = [line.split(None, 2) for line in out.splitlines()]
        tree = {str(self.proc.pid)}
        for _ in range(8):
            tree |= {p for p, pp, _ in rows if pp in tree}
        return {int(p): c for p, _, c in rows if p in tree}

    def children_named(self, prefix):
        return sorted(p for p, c in self.pids().items() if c.startswith(prefix))

    def stop(self):
        if self.proc:
            kill(self.proc)
            self.proc = None
        if self.work and not os.environ.get("VTEST_KEEP"):
            for _ in range(3):  # child processes may still write into the profile
                shutil.rmtree(self.work, ignore_errors=True)
                if not os.path.exists(self.work):
                    break
                time.sleep(0.3)
            self.work = None


class Tab:
    def __init__(self, browser, target_id, rpc, evaluate, capture):
        self.browser = browser
        self.id = target_id
        self.rpc = rpc
        self._eval = evaluate
        self._capture = capture

    def eval(self, expr):
        return self._eval(expr)

    def wait(self, expr, timeout=60):
        """expr's first truthy value, polled; None on timeout.  While the
        page loads expr may throw (no body yet): the last error is raised
        only if it never comes true."""
        err = []

        def once():
            try:
                return self.eval(expr)
            except RuntimeError as e:
                err[:] = [e]
                return None
        v = wait_for(once, timeout, 0.05)
        if not v and err:
            raise err[0]
        return v

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._capture()))

    def close(self):
        self.browser.close_tab(self)


class Chromium(Browser):
    """Debian's headless Chromium with the unpacked extension and native
    messaging host manifests in the profile's NativeMessagingHosts."""

    binary = CHROMIUM

    def __init__(self, ext_dir, site, user, hosts=None, env=None, lang="en-US"):
        super().__init__(ext_dir, site, user, env)
        self.hosts = dict(hosts or {})   # manifest name -> its JSON
        self.lang = lang

    def start(self):
        self._prepare()
        nm = os.path.join(self.profile, "NativeMessagingHosts")
        os.makedirs(nm)
        for name, manifest in self.hosts.items():
            with open(os.path.join(nm, name + ".json"), "w") as f:
                json.dump(manifest, f)
        # Chromium on Linux takes trust anchors from $HOME/.pki/nssdb.
        db = os.path.join(self.home, ".pki", "nssdb")
        os.makedirs(db)
        _run("certutil", "-N", "-d", "sql:" + db, "--empty-password")
        _run("certutil", "-A", "-d", "sql:" + db, "-n", "vitaled-test-ca", "-t", "C,,",
             "-i", self.site.ca)
        rules = ",".join("MAP %s 127.0.0.1" % n for n in self.site.names)
        argv = [self.binary, "--headless=new", "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-dev-shm-usage",
                "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
                "--host-resolver-rules=" + rules, "--lang=" + self.lang,
                "--accept-lang=" + self.lang,
                "--load-extension=" + self.ext, "--disable-extensions-except=" + self.ext,
                "--enable-logging=stderr", "--v=0",
                "--remote-debugging-port=0", "--window-size=1100,760", "about:blank"]
        if self.pw.pw_uid == 0:
            argv.insert(1, "--no-sandbox")  # Chromium refuses root with its sandbox
        self._spawn(argv)
        self.port = self._devtools_port()
        if not self.port and "No usable sandbox" in self.log():
            # A container without user namespaces (CI's nspawn): the sandbox
            # is Chromium's own defence, not what these tests are about.
            print("# chromium: no usable sandbox here, running it with --no-sandbox",
                  flush=True)
            argv.insert(1, "--no-sandbox")
            self._spawn(argv)
            self.port = self._devtools_port()
        if not self.port:
            raise BrowserUnavailable("chromium gave no DevTools port: %s" % self.log()[-2000:])
        self.http = "http://127.0.0.1:%s" % self.port

    def _devtools_port(self):
        """The DevTools port Chromium wrote in the profile; None if it exited."""
        portfile = os.path.join(self.profile, "DevToolsActivePort")

        def port():
            if self.proc.poll() is not None:
                return "exited"
            try:
                with open(portfile) as f:
                    return f.read().split()[0]
            except (OSError, IndexError):
                return None
        p = wait_for(port, 60)
        return None if p == "exited" else p

    def env(self):
        e = super().env()
        e["LANGUAGE"] = self.lang.replace("-", "_")  # with --accept-lang: navigator.language
        return e

    def _json(self, path, method="GET"):
        req = urllib.request.Request(self.http + path, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def extension_id(self):
        """The ID Chromium gives the unpacked extension: from its "key"."""
        with open(os.path.join(self.ext, "manifest.json")) as f:
            key = json.load(f)["key"]
        digest = hashlib.sha256(base64.b64decode(key)).hexdigest()[:32]
        return "".join(chr(ord("a") + int(c, 16)) for c in digest)

    def targets(self):
        return self._json("/json/list")

    def open(self, url):
        # the whole URL escaped: DevTools unescapes it, and would cut it at a raw "&"
        t = self._json("/json/new?" + urllib.parse.quote(url, safe=""), "PUT")
        rpc = _Rpc(t["webSocketDebuggerUrl"])
        rpc.call("Page.enable")

        def evaluate(expr):
            r = rpc.call("Runtime.evaluate", expression=expr, returnByValue=True)
            if "exceptionDetails" in r:  # a test's own script is wrong: say so
                raise RuntimeError("%s: %s" % (expr[:200], r["exceptionDetails"]))
            return r["result"].get("value")
        return Tab(self, t["id"], rpc, evaluate,
                   lambda: rpc.call("Page.captureScreenshot", format="png")["data"])

    def close_tab(self, tab):
        tab.rpc.close()
        urllib.request.urlopen(self.http + "/json/close/" + tab.id, timeout=30).read()

    def activate(self, tab):
        urllib.request.urlopen(self.http + "/json/activate/" + tab.id, timeout=30).read()


class Firefox(Browser):
    """Firefox ESR, headless, the extension installed as a temporary add-on
    over WebDriver BiDi; native host manifests in ~/.mozilla."""

    binary = FIREFOX

    def __init__(self, ext_dir, site, user, hosts=None, env=None):
        super().__init__(ext_dir, site, user, env)
        self.hosts = dict(hosts or {})

    def start(self):
        self._prepare()
        nm = os.path.join(self.home, ".mozilla", "native-messaging-hosts")
        os.makedirs(nm)
        for name, manifest in self.hosts.items():
            with open(os.path.join(nm, name + ".json"), "w") as f:
                json.dump(manifest, f)
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            f.write('user_pref("network.dns.localDomains", "%s");\n' % ",".join(self.site.names))
            f.write('user_pref("browser.shell.checkDefaultBrowser", false);\n')
            # console lines of pages and of the extension on stdout (the log)
            f.write('user_pref("devtools.console.stdout.content", true);\n')
            f.write('user_pref("devtools.console.stdout.chrome", true);\n')
            f.write('user_pref("extensions.sdk.console.logLevel", "all");\n')
        # The profile's own NSS db trusts the test CA.
        _run("certutil", "-N", "-d", "sql:" + self.profile, "--empty-password")
        _run("certutil", "-A", "-d", "sql:" + self.profile, "-n", "vitaled-test-ca",
             "-t", "C,,", "-i", self.site.ca)
        self._spawn([self.binary, "--headless", "--no-remote", "--profile", self.profile,
                     "--remote-debugging-port", "0", "--window-size", "1100,760",
                     "about:blank"])

        def url():
            if self.proc.poll() is not None:
                raise BrowserUnavailable("firefox exited: %s" % self.log()[-2000:])
            m = re.search(r"WebDriver BiDi listening on (ws://\S+)", self.log())
            return m and m.group(1)
        ws = wait_for(url, 60)
        if not ws:
            raise BrowserUnavailable("firefox gave no BiDi address: %s" % self.log()[-2000:])
        self.bidi = _Rpc(ws + "/session")
        self.bidi.call("session.new", capabilities={})
        self.bidi.call("webExtension.install", extensionData={"type": "path", "path": self.ext})

    def env(self):
        e = super().env()
        e["MOZ_HEADLESS"] = "1"
        return e

    def open(self, url):
        ctx = self.bidi.call("browsingContext.create", type="tab")["context"]
        self.bidi.call("browsingContext.navigate", context=ctx, url=url, wait="complete")

        def evaluate(expr):
            r = self.bidi.call("script.evaluate", expression=expr, target={"context": ctx},
                               awaitPromise=False, resultOwnership="none")
            v = r.get("result", {})
            return v.get("value") if v.get("type") not in ("undefined", "null") else None
        return Tab(self, ctx, self.bidi, evaluate,
                   lambda: self.bidi.call("browsingContext.captureScreenshot",
                                          context=ctx)["data"])

    def close_tab(self, tab):
        self.bidi.call("browsingContext.close", context=tab.id)
