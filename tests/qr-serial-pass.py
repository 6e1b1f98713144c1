#!/usr/bin/python3
"""A serial scanner shared with the pharmacy software (issue 15).

With [serial] PassThrough = pty the daemon makes a pty per scanner, linked
as <PassThroughDirectory>/<reader id as a file name> and owned by
PassThroughGroup.  A reader process (a member of that group, standing in
for the pharmacy software) holds the link open while a pty scanner sends
tokens and drug-box lines: it receives every line that is not a token,
byte for byte with the line end it came with (CR LF, CR, LF, a CR and its
LF in two reads, GS characters, binary bytes), and never a token.  An
outsider cannot open it; a line sent while nobody has it open is not kept
for the next program; the link comes and goes with the scanner and goes
when the daemon stops.
"""
import grp
import os
import re
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import bus as vbus  # noqa: E402
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr, share, soak  # noqa: E402
from vtest.tap import Tap  # noqa: E402

GS = share.GS
PACE = 0.3  # s between codes: a person scanning (the scanner throttle lets 4/s through)


class Scanner(soak.Scanner):
    def type(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]


def qr_objects(bus):
    r = bus.call_as("member", "/org/vitaled", "org.freedesktop.DBus.ObjectManager",
                    "GetManagedObjects")
    return r.get("ok", {})


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    tmp = tempfile.mkdtemp(prefix="vitaled-pass-")
    run = tempfile.mkdtemp(prefix="vitaled-run-")
    os.chmod(run, 0o755)
    path = os.path.join(tmp, "scanner0")
    rid = "serial-" + path
    link = os.path.join(run, ("serial-" + path).replace("/", "-").replace("--", "-"))
    bus, d = qr.start_daemon("serial", "Devices = %s/scanner*\nPassThrough = pty\n"
                             "PassThroughDirectory = %s\nPassThroughGroup = %s"
                             % (tmp, run, vbus.CLIENT_GROUP))
    sc = None
    with qr.scenario(t, "serial pass-through", bus, d):
        sc = Scanner(path)
        m = d.wait_log(r"reader %s: pass-through (\S+)" % rid)
        t.eq(m and m.group(1), link, "the scanner's pass-through link is named after its id")
        target = os.readlink(link)
        st = os.stat(link)
        t.ok(target.startswith("/dev/pts/") and stat.S_ISCHR(st.st_mode),
             "it is a pty (%s)" % target)
        t.ok(st.st_gid == grp.getgrnam(vbus.CLIENT_GROUP).gr_gid and
             stat.S_IMODE(st.st_mode) == 0o660,
             "owned by PassThroughGroup, mode 0660", (st.st_gid, oct(st.st_mode)))
        r = bus.python_as("outsider", "import os, sys; os.open(sys.argv[1], os.O_RDONLY)", link)
        t.ok(r[0] != 0 and "Permission denied" in r[2], "an outsider cannot open it", r)

        import subprocess
        listener = share.OtherCodeListener(bus)
        eav = bus.popen_as("outsider", [vbus.PYTHON, bus.readable(os.path.join(
            os.path.dirname(vbus.__file__), "eavesdrop.py"))],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watch = bus.popen_as("member", [vdaemon.vitalectl_path(), "--json", "watch"],
                             stdout=subprocess.PIPE, text=True)
        watch.stdout.readline()     # the daemon-up line: it has subscribed
        eav_lines = []
        while not any("listening" in ln for ln in eav_lines[-1:]):
            ln = eav.stdout.readline()
            if not ln:
                break
            eav_lines.append(ln)

        ph = share.PortReader(bus, link)
        tokens = list(soak.tokens(2))
        lines = [
            b"3400930000120\r\n",                                   # EAN-13, CR LF
            GS + b"010340093000012017271231" + b"10LOT1" + GS + b"21SN9\r",   # GS1, CR
            b"https://example.org/notice\n",                         # LF
            bytes([0, 1, 2, 0xfe, 0x80]) + b"binary\r\n",            # any bytes
            b"]E03400930000151\r\n",                               # with its AIM identifier
        ]
        pos = d.log_size()
        sc.scan(tokens[0])
        expected = b""
        for ln in lines:
            time.sleep(PACE)
            sc.type(ln)
            expected += ln
        time.sleep(PACE)
        sc.scan(tokens[1])
        # a CR and its LF in two reads; a line in two bursts 50 ms apart
        time.sleep(PACE)
        sc.type(b"3400930000137\r")
        time.sleep(0.1)
        sc.type(b"\n")
        time.sleep(PACE)
        sc.type(b"34009300")
        time.sleep(0.05)
        sc.type(b"00144\r\n")
        time.sleep(PACE)
        sc.type(b"END\r\n")
        expected += b"3400930000137\r\n3400930000144\r\nEND\r\n"
        got = ph.received()
        t.eq(got, expected, "the reader on the link got every other line byte for byte, "
             "line ends included")
        t.ok(b"VT1:" not in got, "and no token")
        v1, _, pos = qr.wait_verdict(d, rid, pos)
        v2, _, pos = qr.wait_verdict(d, rid, pos)
        t.eq((v1, v2), ("verified", "verified"), "the tokens were read by the daemon")

        # the same codes on D-Bus, to a member of the client group only
        import json
        codes = [ln.rstrip(b"\r\n") for ln in expected.splitlines(keepends=True)]
        signals = listener.signals(len(codes))
        t.eq([s["code"] for s in signals], codes,
             "a client-group member got one Reader1.OtherCode per other code, bytes as scanned")
        reader_path = [p for p, i in qr_objects(bus).items() if "org.vitaled.Reader1" in i]
        t.ok(all(s["path"] in reader_path for s in signals) and
             [s["symbology"] for s in signals] == ["]E0" if c.startswith(b"]E0") else ""
                                                   for c in codes],
             "from the scanner's Reader1 object, with the AIM identifier when one was sent",
             signals)
        listener.stop()
        watch_lines = []
        while sum('"other-code"' in ln for ln in watch_lines) < len(codes):
            ln = watch.stdout.readline()
            if not ln:
                break
            watch_lines.append(ln)
        watch.terminate()
        told = [json.loads(ln) for ln in watch_lines if '"other-code"' in ln]
        t.eq([(x["bytes"], x["pass_through"]) for x in told], [(len(c), link) for c in codes],
             "vitalectl watch tells each other code passed through, with its size")
        t.ok(not any(c.decode("latin-1") in "".join(watch_lines) for c in codes if len(c) > 3),
             "and never its content")
        r = bus.run_as("member", [vdaemon.vitalectl_path(), "--json", "readers"])
        t.eq([x["pass_through"] for x in json.loads(r.stdout) if x["id"] == rid], [link],
             "vitalectl readers --json: the scanner's pass-through")
        r = bus.run_as("member", [vdaemon.vitalectl_path(), "readers"])
        t.ok("  other codes pass through to %s\n" % link in r.stdout,
             "vitalectl readers: where its other codes go", r.stdout)
        eav.terminate()
        eav_out = "".join(eav_lines) + eav.communicate(timeout=30)[0]
        t.ok("OtherCode" not in eav_out and "3400930000120" not in eav_out,
             "an outsider listening to every signal got none of them")

        # nobody holds the port: a line is not kept for the next program
        sc.type(b"LOST\r\n")
        m = d.wait_log(r"reader %s: nobody has \S+ open; line dropped" % rid, 30, pos)
        t.ok(m, "a line sent while nobody has the port open is dropped")
        ph = share.PortReader(bus, link)
        sc.type(b"AFTER\r\n")
        time.sleep(PACE)
        sc.type(b"END\r\n")
        t.eq(ph.received(), b"AFTER\r\nEND\r\n", "the next program gets only what came after")

        pos = d.log_size()
        sc.unplug()
        d.wait_log(r"reader %s: pass-through %s removed" % (re.escape(rid), re.escape(link)), 30, pos)
        t.ok(not os.path.lexists(link), "unplugged: the link is gone")
        sc = Scanner(path)
        d.wait_log(r"reader %s: pass-through %s\n" % (re.escape(rid), re.escape(link)), 30, pos)
        t.ok(os.path.lexists(link), "replugged: the link is back")
    t.ok(not os.path.lexists(link), "the daemon stopped: the link is gone")
    if sc:
        sc.unplug()
    t.done()


if __name__ == "__main__":
    main()
