"""The web bridge's host as a browser drives it: vitaled-web-bridge on a
pipe pair, 4-byte native-endian length + JSON each way (doc/web.md).

    allow = AllowList(["https://reception.example:8443"])   # a web.d directory
    with Host(bus, "member", allow.dir) as h:                # started as who
        h.hello("https://reception.example:8443")           # the hello reply
        h.call("getReaders")                                 # the whole reply
        h.event("card-changed", lambda e: ...)               # the first matching event
        h.send_raw(b"...")                                   # anything, framed or not
        h.close_stdin(); h.wait()                            # what the browser does

Messages are read by a thread into a queue, so events and replies are
never lost while the test looks elsewhere.
"""
import json
import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading

from .paths import builddir

ORIGIN = "https://reception.example:8443"


def host_path():
    return os.path.join(builddir(), "bridge", "vitaled-web-bridge")


def frame(obj):
    data = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return struct.pack("=I", len(data)) + data


class AllowList:
    """A web.d directory as the package installs it: root-owned, 0755,
    files 0644 (which every user running the host can read)."""

    def __init__(self, origins=(), name="reception.conf"):
        self.dir = tempfile.mkdtemp(prefix="vtest-web.d-")
        os.chmod(self.dir, 0o755)
        self.write(name, "# the test's origins\n" + "".join(o + "\n" for o in origins))

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Host:
    def __init__(self, bus, who, allow_dir, env=None, argv=None):
        self.bus, self.who = bus, who
        extra = {"VITALED_WEB_ALLOW_DIR": allow_dir}
        extra.update(env or {})
        self.proc = bus.popen_as(who, argv or [host_path(), "chrome-extension://test/"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=bus.env(extra))
        self.messages = queue.Queue()
        self.pending = []           # read but not yet asked for
        self.next_id = 1
        self.stderr = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._err.start()

    def _read(self):
        f = self.proc.stdout
        while True:
            head = f.read(4)
            if len(head) < 4:
                self.messages.put(None)
                return
            (n,) = struct.unpack("=I", head)
            body = f.read(n)
            try:
                self.messages.put(json.loads(body))
            except ValueError:
                self.messages.put({"type": "unparsable", "raw": body})

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def send(self, obj):
        self.send_raw(frame(obj))

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _take(self, pred, timeout):
        for i, m in enumerate(self.pending):
            if pred(m):
                return self.pending.pop(i)
        while True:
            m = self.messages.get(timeout=timeout)
            if m is None:
                self.messages.put(None)     # stays closed for the next caller
                raise EOFError("the host closed stdout")
            if m.get("type") == "unparsable":
                raise ValueError("the host sent a message that is not JSON: %r" % m["raw"])
            if pred(m):
                return m
            self.pending.append(m)

    def reply(self, id, timeout=30):
        return self._take(lambda m: m.get("type") != "event" and m.get("id") == id, timeout)

    def next_reply(self, timeout=30):
        """The next message that is not an event (errors may have id null)."""
        return self._take(lambda m: m.get("type") != "event", timeout)

    def event(self, name, pred=lambda e: True, timeout=30):
        return self._take(lambda m: m.get("type") == "event" and m.get("event") == name
                          and pred(m), timeout)

    def events(self):
        """Every event received so far, in order, without taking them."""
        while True:
            try:
                m = self.messages.get_nowait()
            except queue.Empty:
                break
            if m is None:
                self.messages.put(None)
                break
            self.pending.append(m)
        return [m for m in self.pending if m.get("type") == "event"]

    def request(self, obj, timeout=30):
        obj = dict(obj, id=self.next_id)
        self.next_id += 1
        self.send(obj)
        return self.reply(obj["id"], timeout)

    def hello(self, origin=ORIGIN, protocol=1):
        return self.request({"type": "hello", "protocol": protocol, "origin": origin})

    def call(self, method, params=None, timeout=30):
        msg = {"type": "call", "method": method}
        if params is not None:
            msg["params"] = params
        return self.request(msg, timeout)

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def wait(self, timeout=30):
        """Exit status; raises subprocess.TimeoutExpired if it lingers."""
        rc = self.proc.wait(timeout)
        self._err.join(timeout)
        return rc

    def log(self):
        return self.stderr.decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
