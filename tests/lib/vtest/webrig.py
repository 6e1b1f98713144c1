"""The web bridge's whole chain for tests and benchmarks: the daemon on a
private system bus with pcscd and the card emulator (vtest.bus), the pages
(vitaled.js, the demo, tests/web/) at named HTTPS origins (vtest.browser),
the built host and its built manifests, an allow-list, and browsers as a
desktop user with all of it.

    with WebRig(allowed=["reception.test"], names=[...]) as rig:
        rig.bus, rig.pcsc, rig.site
        with rig.chromium("member") as b: ...       # Chromium(...) with the
        with rig.firefox("member") as b: ...        #   host manifest and env
        rig.chromium("member", manifest={...})      # another host manifest
"""
import json
import os
import shutil
import tempfile

from . import pki as _pki
from .browser import Site, Chromium, Firefox
from .bus import SystemBus
from .daemon import vitalectl_path
from .paths import srcdir, builddir
from .pcsc import Pcsc
from .proc import Service, wait_for

HOST_NAME = "org.vitaled.web_bridge"
HOST_COMM = "vitaled-web-bri"   # what ps shows of vitaled-web-bridge (15 bytes)


class WebRig(Service):
    def __init__(self, names, allowed):
        self.names = list(names)
        self.allowed = list(allowed)
        self.bus = self.pcsc = self.site = None
        self.work = self.root = None

    def start(self):
        self.bus = SystemBus()
        self.bus.start()
        self.pcsc = Pcsc()
        self.pcsc.start()
        self.pcsc.share_socket()
        conf = "[General]\nEnablePlugins = pcsc\n[Trust]\nDirectory = %s\n" % _pki.trust_dir()
        self.daemon = self.bus.start_vitaled(conf, env={"PCSCLITE_CSOCK_NAME": self.pcsc.socket})
        if not wait_for(lambda: len(self.ctl_json("readers") or []) == 2, 30):
            raise RuntimeError("the daemon did not show the two readers")
        self.work = tempfile.mkdtemp(prefix="vtest-web-")
        os.chmod(self.work, 0o755)
        self.root = self._docroot()
        self.site = Site(self.root, self.names)
        self.site.start()
        self.hosts = self._host_manifests()
        self.env = {"DBUS_SYSTEM_BUS_ADDRESS": self.bus.address,
                    "VITALED_WEB_ALLOW_DIR": self._allow_dir(), "TZ": "UTC"}

    def stop(self):
        for piece in (self.site, self.bus, self.pcsc):
            if piece:
                piece.stop()
        for d in (self.root, self.work):
            if d:
                shutil.rmtree(d, ignore_errors=True)
        self.root = self.work = None

    def _docroot(self):
        """What the site serves: vitaled.js, the demo page, the test pages."""
        d = os.path.join(self.work, "www")
        os.mkdir(d)
        shutil.copy(os.path.join(srcdir(), "web", "vitaled.js"), d)
        shutil.copytree(os.path.join(srcdir(), "web", "demo"), os.path.join(d, "demo"))
        shutil.copytree(os.path.join(srcdir(), "tests", "web"), os.path.join(d, "test"))
        return d

    def _host_manifests(self):
        """The manifests the build made (their allowed_origins / _extensions
        are under test), pointing at a copy of the built host every user can
        run (the tree may be private)."""
        host = os.path.join(self.work, "vitaled-web-bridge")
        shutil.copy(os.path.join(builddir(), "bridge", "vitaled-web-bridge"), host)
        os.chmod(host, 0o755)
        out = {}
        for b in ("chromium", "firefox"):
            with open(os.path.join(builddir(), "bridge", b, HOST_NAME + ".json")) as f:
                m = json.load(f)
            m["path"] = host
            out[b] = m
        return out

    def _allow_dir(self):
        d = os.path.join(self.work, "web.d")
        os.mkdir(d, 0o755)
        path = os.path.join(d, "test.conf")
        with open(path, "w") as f:
            f.write("# the test's origins\n")
            for n in self.allowed:
                f.write(self.site.origin(n) + "\n")
        os.chmod(path, 0o644)
        return d

    def ctl_json(self, *args):
        """vitalectl --json ARGS as the member, parsed (None on failure)."""
        r = self.bus.run_as("member", [vitalectl_path(), "--json"] + list(args),
                            env=self.bus.env({"TZ": "UTC"}))
        return json.loads(r.stdout) if r.returncode == 0 else None

    def extension(self, browser):
        return os.path.join(builddir(), "web", "extension", browser)

    def chromium(self, user, manifest=None, lang="en-US"):
        return Chromium(self.extension("chromium"), self.site, user,
                        hosts={HOST_NAME: manifest or self.hosts["chromium"]},
                        env=self.env, lang=lang)

    def firefox(self, user):
        return Firefox(self.extension("firefox"), self.site, user,
                       hosts={HOST_NAME: self.hosts["firefox"]}, env=self.env)
