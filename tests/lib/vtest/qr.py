"""QR source tests: tokens from the token generator, a daemon configured
for one QR source, and waiting for the verdict of a scan in its log."""
import contextlib
import json
import os
import re
import subprocess

from vtest import daemon as vdaemon
from vtest import pki as vpki

SRC = vdaemon.srcdir()
MKTOKEN = os.path.join(SRC, "tests", "tokens", "mktoken.py")
# zbarimg looking for QR codes only, as vitaled's decoders do: with every
# symbology on, it finds a DataBar in about one QR image in 400 and prints it
# as a second line.
ZBARIMG_QR = ["zbarimg", "--nodbus", "--raw", "-q", "-Sdisable", "-Sqrcode.enable"]


def token(variant="valid", **kw):
    """(list of token texts, info) for a variant of tests/tokens/mktoken.py."""
    argv = ["/usr/bin/python3", MKTOKEN, "--pki", vpki.pki_dir(), "--variant", variant, "--json"]
    for k, v in kw.items():
        argv += ["--" + k, str(v)]
    r = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    info = json.loads(r.stdout)
    return info["tokens"], info


def token_image(path, variant="valid", fmt="png"):
    """Write a token image (png or pgm); returns the token text."""
    texts, _ = token(variant, **{fmt: path})
    return texts[0]


def generated_images(tmp):
    """[(path, expected bytes)]: PNG and PGM of a few token variants."""
    out = []
    for variant in ("valid", "valid-ps256", "expired", "wrong-prefix"):
        for fmt in ("png", "pgm"):
            p = os.path.join(tmp, "token-%s.%s" % (variant, fmt))
            out.append((p, token_image(p, variant, fmt).encode()))
    return out


@contextlib.contextmanager
def scenario(t, name, bus, d):
    """with scenario(t, name, bus, d): the steps of a test against d on bus.
    An exception in them is one failed test point showing the daemon's log;
    then the daemon and the bus stop, and the daemon must exit cleanly."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - report, then tear down
        t.ok(False, "%s scenario ran to the end" % name, "%s\n%s" % (e, d.log()[-3000:]))
    finally:
        status = d.stop()
        report = vdaemon.sanitizer_report(d.log())
        bus.stop()
    t.ok(status == 0 and not report, "vitaled exits cleanly on SIGTERM",
         "exit status %s\n%s" % (status, "\n".join(report)))


def daemon_conf(plugin, group_text):
    """vitaled.conf running only one QR plugin against the test PKI."""
    return ("[General]\nEnablePlugins = %s\n\n[Trust]\nDirectory = %s\n\n[%s]\n%s\n"
            % (plugin, vpki.trust_dir(), plugin, group_text))


def start_daemon(plugin, group_text, env=None):
    """(bus, daemon): a private system bus with our policy, and vitaled on it
    running one QR plugin.  The daemon runs as root because the test's
    device nodes (ptys, umockdev nodes) are root's."""
    from vtest.bus import SystemBus
    bus = SystemBus()
    bus.start()
    try:
        d = bus.start_vitaled(daemon_conf(plugin, group_text), env=env, user="root")
    except BaseException:
        bus.stop()
        raise
    return bus, d


def objects(bus):
    """GetManagedObjects as a member of the client group sees it."""
    r = bus.call_as("member", "/org/vitaled", "org.freedesktop.DBus.ObjectManager",
                    "GetManagedObjects")
    if "ok" not in r:
        raise RuntimeError("GetManagedObjects: %s" % r)
    return r["ok"]


def card_on_bus(bus, reader_id, status, timeout=30):
    """Properties of a Card1 object read on reader_id with that status, as a
    client in the client group sees them (GetManagedObjects), or None."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = bus.call_as("member", "/org/vitaled", "org.freedesktop.DBus.ObjectManager",
                        "GetManagedObjects")
        for path, ifaces in r.get("ok", {}).items():
            card = ifaces.get("org.vitaled.Card1")
            if card and card.get("ReaderId") == reader_id and card.get("Status") == status:
                return dict(card, path=path)
        time.sleep(0.1)
    return None


def wait_verdict(d, reader_id, start, timeout=30):
    """The verdict of the next read on reader_id logged after offset start:
    (verdict, card number, end offset in the log)."""
    m = d.wait_log(r"reader %s: card (\d+): phone-qr, ([a-z-]+) "
                   % re.escape(reader_id), timeout, start)
    return m.group(2), int(m.group(1)), start + m.end()


def under_umockdev_wrapper():
    """Re-run this test under umockdev-wrapper unless already there: uevents
    (hotplug) are sent from this process and need its /sys redirected."""
    import sys
    if "umockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
        os.execvp("umockdev-wrapper", ["umockdev-wrapper", sys.executable] + sys.argv)


class Testbed:
    """A umockdev testbed (GI) the daemon runs in: LD_PRELOAD plus
    UMOCKDEV_DIR in its environment; ioctls and scripted events are served
    by threads of this process."""

    def __init__(self):
        import gi
        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev
        self.tb = UMockdev.Testbed.new()

    def env(self):
        # an ASan build wants its runtime first; the preload only wraps libc
        asan = os.environ.get("ASAN_OPTIONS", "")
        return {"LD_PRELOAD": "libumockdev-preload.so.0", "UMOCKDEV_DIR": self.tb.get_root_dir(),
                "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}

    def add(self, text):
        if not self.tb.add_from_string(text):
            raise RuntimeError("umockdev refused the device description")


def run_exiting(main):
    """Run a test's main and leave with its status even when umockdev's
    threads would keep the interpreter from exiting (everything the test
    started is stopped by then: the daemon and bus in its finally blocks)."""
    import sys
    import traceback
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then leave
        traceback.print_exc()
        print("Bail out! the test raised", flush=True)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
