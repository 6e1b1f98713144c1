#!/usr/bin/python3
"""Trust bundle install + reload (issue 17): a bundle of 100,000 opposed
serials and 1,000 document signers, installed into a running vitaled
through its drop directory.

    bench/bench-bundle.py [--serials N] [--signers N] [--rounds N]

- stall: while the bundle is verified, written and loaded, a D-Bus client
  reads Manager1.Version in a loop (what every client, and every read's
  result, goes through: the daemon's main loop); the longest answer during
  the install, minus the longest before it, is the stall reads in progress
  see.  Floor: loading the same files at start (the daemon's own "loaded in"
  figure for [Trust] Directory holding them).  Goal <= 1.1x.
- memory: resident size of a daemon started with the set, against one with
  the same signers and no serial: per 10,000 serials (a count, no goal).

The PKI is made here (python3-cryptography), the bundles by the real
tools/vitaled-trust-bundle.
"""
import argparse
import datetime
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lib"))

from vtest import bundle as vb  # noqa: E402
from vtest.bench import ratio_result, result  # noqa: E402
from vtest.cardrig import Bus  # noqa: E402
from vtest.daemon import Daemon  # noqa: E402
from vtest.proc import rss_kib  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

import gi  # noqa: E402
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_set(base, n_signers, n_serials):
    """A trust directory: a root, n_signers signers (100 a file), n_serials."""
    os.makedirs(base)
    now = datetime.datetime(2024, 1, 1)
    until = datetime.datetime(2049, 12, 31)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(name("bench root"))
            .issuer_name(name("bench root")).public_key(root_key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    with open(os.path.join(base, "root.pem"), "wb") as f:
        f.write(root.public_bytes(pem))
    for chunk in range(0, n_signers, 100):
        with open(os.path.join(base, "ds-%04d.pem" % chunk), "wb") as f:
            for i in range(chunk, min(n_signers, chunk + 100)):
                key = ec.generate_private_key(ec.SECP256R1())
                cert = (x509.CertificateBuilder().subject_name(name("bench DS %d" % i))
                        .issuer_name(root.subject).public_key(key.public_key())
                        .serial_number(i + 2).not_valid_before(now).not_valid_after(until)
                        .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                       True)
                        .sign(root_key, hashes.SHA256()))
                f.write(cert.public_bytes(pem))
    with open(os.path.join(base, "opposition.txt"), "w") as f:
        f.write("".join("VTD%010d\n" % i for i in range(n_serials)))
    return base


def start(bus, work, tag, conf):
    d = Daemon(conf="[General]\nStateDirectory = %s\nEnablePlugins = \n%s"
               % (os.path.join(work, tag + "-state"), conf),
               env=bus.env(), session=True, workdir=os.path.join(work, tag))
    os.makedirs(os.path.join(work, tag + "-state"), exist_ok=True)
    return d.start(timeout=300)


def start_load_us(d):
    m = re.search(r"opposed serials from \S+ \(loaded in (\d+) us\)", d.log())
    return int(m.group(1))


class Probe(threading.Thread):
    """Manager1.Version over and over: (time sent, seconds to answer)."""

    def __init__(self, address):
        super().__init__(daemon=True)
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            self.conn.call_sync("org.vitaled", "/org/vitaled", "org.freedesktop.DBus.Properties",
                                "Get", GLib.Variant("(ss)", ("org.vitaled.Manager1", "Version")),
                                None, Gio.DBusCallFlags.NONE, 60000, None)
            self.samples.append((t0, time.monotonic() - t0))
            time.sleep(0.0005)


def drop(d, dropdir, path, version):
    at = d.log_size()
    shutil.copy(path, os.path.join(dropdir, ".t"))
    t0 = time.monotonic()
    os.rename(os.path.join(dropdir, ".t"), os.path.join(dropdir, "v.bundle"))
    m = d.wait_log(r"bundle version %d from drop:v.bundle installed \(worker (\d+) us, "
                   r"loop (\d+) us\)" % version, 600, at)
    return t0, time.monotonic(), int(m.group(1)), int(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serials", type=int, default=100000)
    ap.add_argument("--signers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vitaled-bench-bundle-")
    bus = Bus()
    try:
        big = make_set(os.path.join(work, "big"), a.signers, a.serials)
        none = os.path.join(work, "none")
        shutil.copytree(big, none)
        with open(os.path.join(none, "opposition.txt"), "w") as f:
            f.write("")
        tl = vb.TrustListPki(os.path.join(work, "tl"))
        bundles = []
        for v in range(2, a.rounds + 2):
            out = os.path.join(work, "v%d.bundle" % v)
            tl.build(big, out, v)
            bundles.append((v, out))
        small = os.path.join(work, "v1.bundle")
        tl.build(none, small, 1)

        # floor: the same files loaded at start, and the memory figures
        loads, rss = [], {}
        for tag, d_set in (("none", none), ("big", big)):
            for r in range(3 if tag == "big" else 1):
                d = start(bus, work, "%s-%d" % (tag, r), "[Trust]\nDirectory = %s\n"
                          "DropDirectory = \n" % d_set)
                time.sleep(1)
                rss.setdefault(tag, []).append(rss_kib(d.proc.pid))
                if tag == "big":
                    loads.append(start_load_us(d))
                d.stop()
        floor_us = statistics.median(loads)

        # the daemon serving while bundles of the big set are installed
        dropdir = os.path.join(work, "drop")
        os.makedirs(dropdir)
        d = start(bus, work, "install", "[Trust]\nListRootDirectory = %s\nDropDirectory = %s\n"
                  % (tl.roots, dropdir))
        drop(d, dropdir, small, 1)
        probe = Probe(bus.address)
        probe.start()
        stalls, workers, loops = [], [], []
        for v, path in bundles:
            time.sleep(1)
            t0, t1, worker_us, loop_us = drop(d, dropdir, path, v)
            time.sleep(0.2)
            before = [s for t, s in probe.samples if t0 - 1 <= t < t0]
            during = [s for t, s in probe.samples if t0 <= t <= t1]
            if before and during:
                stalls.append(max(0.0, max(during) - max(before)) * 1e6)
            workers.append(worker_us)
            loops.append(loop_us)
        probe.stop.set()
        probe.join()
        d.stop()
        stall = statistics.median(stalls)
        print("# start load (floor) %s us; installs: worker %s us, loop %s us, stall %s us"
              % (loads, workers, loops, [round(s) for s in stalls]))
        ratio_result("install+reload stall for reads in progress (%d serials, %d signers)"
                     % (a.serials, a.signers), stall / 1000, floor_us / 1000, "ms",
                     "<= 1.1x the start load", lambda r: r <= 1.1)
        result("install, off the loop (verify, write, sync, load)",
               round(statistics.median(workers) / 1000, 1), "", "", "ms", "", None)
        per10k = (statistics.median(rss["big"]) - rss["none"][0]) / (a.serials / 10000)
        result("memory per 10,000 opposed serials", round(per10k), "", "", "KiB", "", None,
               "RSS %s KiB with the set, %s KiB with its %d signers and no serial"
               % (statistics.median(rss["big"]), rss["none"][0], a.signers))
    finally:
        bus.close()
        shutil.rmtree(work, ignore_errors=True)


main()
