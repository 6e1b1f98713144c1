#!/usr/bin/python3
"""vitalectl in French (issue 21).  The catalogue: po/fr.po translates every
string the sources mark (a fresh xgettext run merged into it leaves nothing
untranslated or fuzzy), and an entry left as in English says so.  Then the
built vitalectl, uninstalled (VITALECTL_LOCALEDIR: the build tree's
catalogues), under LANG=fr_FR.UTF-8 and LANG=C against the real daemon
(private pcscd with virtual readers and cards, private system bus with our
policy): French words, dates and grouping for status, readers, show, diag,
trust (a signed trust bundle installed) and the errors; the same --json and exit codes in both languages; and
no English of the catalogue left in any French output, --help included."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))

from vtest import bundle as vb  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.bus import SystemBus, BusUnavailable  # noqa: E402
from vtest.daemon import vitalectl_path, srcdir, builddir  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402
from vtest.tap import Tap  # noqa: E402

CTL = vitalectl_path()
PO = os.path.join(srcdir(), "po")
LOCALEDIR = os.path.join(builddir(), "locale")
# LC_ALL and LANGUAGE empty: LANG alone decides, whatever the caller's are
FR = {"LANG": "fr_FR.UTF-8", "LC_ALL": "", "LANGUAGE": "", "TZ": "UTC",
      "VITALECTL_LOCALEDIR": LOCALEDIR}
C = dict(FR, LANG="C")
SAME = "same in French"


# ---- the catalogue ----------------------------------------------------------

def po_entries(path):
    """(msgid, msgid_plural, [msgstr...], comments) of a .po file, header
    left out; msgcat --no-wrap first so that every string is on one line."""
    text = subprocess.run(["msgcat", "--no-wrap", path], capture_output=True, text=True,
                          check=True).stdout
    entries = []
    for block in text.split("\n\n"):
        comments, fields, key = [], {}, None
        for line in block.splitlines():
            if line.startswith("#"):
                comments.append(line)
                continue
            m = re.match(r'(msgid_plural|msgid|msgstr(?:\[\d\])?) (".*")$', line)
            if m:
                key = m.group(1)
                fields[key] = ""
                line = m.group(2)
            if key and line.startswith('"'):
                fields[key] += json.loads(line.replace("\\'", "'"))
        if fields.get("msgid"):
            strs = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
            entries.append((fields["msgid"], fields.get("msgid_plural"), strs, comments))
    return entries


def makevars(name):
    """A variable of po/Makevars, continuation lines joined."""
    with open(os.path.join(PO, "Makevars")) as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(r"^%s\s*=(.*)$" % name, text, re.M)
    return m.group(1).split()


def test_catalogue(t):
    r = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull,
                        os.path.join(PO, "fr.po")], capture_output=True, text=True)
    t.ok(r.returncode == 0 and re.match(r"\d+ translated messages\.$", r.stderr.strip()),
         "msgfmt --check --statistics po/fr.po: no untranslated or fuzzy entry", r.stderr)
    # the sources as they are now, not the .pot the build last made
    with tempfile.TemporaryDirectory() as d:
        pot, merged = os.path.join(d, "fresh.pot"), os.path.join(d, "merged.po")
        with open(os.path.join(PO, "POTFILES.in")) as f:
            files = [x.strip() for x in f if x.strip() and not x.startswith("#")]
        subprocess.run(["xgettext", "-o", pot, "-D", srcdir()] + makevars("XGETTEXT_OPTIONS")
                       + files, check=True, capture_output=True)
        n = sum(1 for e in po_entries(pot))
        t.ok(n > 250, "xgettext finds vitalectl's marked strings (%d)" % n)
        subprocess.run(["msgmerge", "--quiet", "-o", merged, os.path.join(PO, "fr.po"), pot],
                       check=True, capture_output=True)
        r = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull, merged],
                           capture_output=True, text=True)
        t.ok(r.returncode == 0 and re.match(r"\d+ translated messages\.$", r.stderr.strip()),
             "every string marked in the sources is translated in po/fr.po "
             "(else: make -C build/po update-po, then translate)", r.stderr)
    left = [e[0] for e in po_entries(os.path.join(PO, "fr.po"))
            if (e[2][0] == e[0] and not e[1]) and not any(SAME in c for c in e[3])]
    t.eq(left, [], "an entry left as in English says '# %s'" % SAME)


def english_segments():
    """The English the catalogue translates: each msgid cut at its format
    directives and line ends, the pieces with a word in them; an entry the
    same in French does not count."""
    segs = set()
    for msgid, plural, strs, comments in po_entries(os.path.join(PO, "fr.po")):
        if any(SAME in c for c in comments):
            continue
        for text in filter(None, (msgid, plural)):
            for piece in re.split(r"%[-\d.]*(?:ll|z|l)?[a-zA-Z]|\n|\033\[\w*", text):
                piece = piece.strip(" ,:;().[]")
                # words of a sentence, not a lone name (vitalectl, test-card)
                if re.search(r"[a-z]{3,},? [a-z]{2,}", piece):
                    segs.add(piece)
    return segs


SEGMENTS = None


def english_left(c_out, fr_out, data=()):
    """Catalogue English that the C output shows and the French one still
    does: the French output has it untranslated.  data: what the output
    shows as it is in every language (a certificate's subject)."""
    global SEGMENTS
    if SEGMENTS is None:
        SEGMENTS = english_segments()
    for d in data:
        c_out, fr_out = c_out.replace(d, ""), fr_out.replace(d, "")
    return sorted(s for s in SEGMENTS if s in c_out and s in fr_out)


def readable_locale(bus):
    """The build tree's catalogue as a copy every user can read: a clone may
    sit in a private directory (a 0700 home) where the member and the
    outsider could not open it, and would get English."""
    dst = os.path.join(bus.dir, "locale")
    if not os.path.isdir(dst):
        shutil.copytree(LOCALEDIR, dst)
        for d, _, files in os.walk(dst):
            os.chmod(d, 0o755)
            for name in files:
                os.chmod(os.path.join(d, name), 0o644)
    return dst


def run(argv, env, who=None, bus=None, extra=None):
    env = dict(env, **(extra or {}))
    if bus:
        if "VITALECTL_LOCALEDIR" in env:
            env["VITALECTL_LOCALEDIR"] = readable_locale(bus)
        return bus.run_as(who, [CTL] + argv, env=bus.env(env))
    return subprocess.run([CTL] + argv, capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60)


def both(t, argv, what, who="root", bus=None, extra=None, data=()):
    """vitalectl argv in C and in French: the same exit status, French text
    with no English of the catalogue left; returns (C, French) results."""
    c, fr = run(argv, C, who, bus, extra), run(argv, FR, who, bus, extra)
    t.eq(fr.returncode, c.returncode, "%s: the same exit status in French (%d)" % (
        what, c.returncode))
    t.ok(fr.stdout + fr.stderr != c.stdout + c.stderr, "%s: says it in French" % what,
         fr.stdout + fr.stderr)
    t.eq(english_left(c.stdout + c.stderr, fr.stdout + fr.stderr, data), [],
         "%s: no English of the catalogue left in French" % what)
    return c, fr


def same_json(t, argv, what, who="root", bus=None, mask=None, extra=None):
    c = run(["--json"] + argv, C, who, bus, extra)
    fr = run(["--json"] + argv, FR, who, bus, extra)
    cj, fj = json.loads(c.stdout), json.loads(fr.stdout)
    if mask:
        cj, fj = mask(cj), mask(fj)
    t.ok(cj == fj and c.returncode == fr.returncode and (mask or c.stdout == fr.stdout),
         "%s --json: the same in French and in C" % what, (c.stdout, fr.stdout))
    return cj


def squeeze(out):
    return [re.sub(r"\s+", " ", x).strip() for x in out.splitlines()]


# ---- without a daemon ---------------------------------------------------------

def test_locale(t):
    have = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split()
    t.ok(any(x.lower().replace("-", "") == "fr_fr.utf8" for x in have),
         "the fr_FR.UTF-8 locale exists (scripts/deps.sh generates it)", have)
    t.ok(os.path.exists(os.path.join(LOCALEDIR, "fr", "LC_MESSAGES", "vitaled.mo")),
         "the build tree's French catalogue is built (make check)")


def test_help(t):
    helps = [["--help"]] + [[c, "--help"] for c in ("status", "readers", "watch", "show",
                                                    "diag")] + \
        [["token", "verify", "--help"], ["trust", "--help"], ["trust", "install", "--help"]]
    for argv in helps:
        c, fr = both(t, argv, "vitalectl %s" % " ".join(argv))
        # not vacuous: the English help is made of catalogue entries
        t.ok(any(s in c.stdout for s in SEGMENTS), "%s: English help comes from the "
             "catalogue" % " ".join(argv), c.stdout)
    fr = run(["--help"], FR)
    t.ok(fr.stdout.startswith("Utilisation : vitalectl") and "Commandes :" in fr.stdout,
         "--help in French", fr.stdout)


def test_trust_list(t):
    trust = vpki.trust_dir()
    # the test PKI's subjects are data: "vitaled test issuer root"
    c, fr = both(t, ["trust", "list", "--dir", trust], "trust list",
                 data=["vitaled test issuer root"])
    lines = squeeze(fr.stdout)
    t.eq(lines[0], "Répertoire de confiance %s : 1 racine, 5 certificats de signature, 1 LCR, "
         "2 numéros en opposition" % trust, "trust list in French: the counts")
    t.ok("racine valide 01/01/2020 31/12/2059 vitaled test issuer root root.pem" in lines
         and "LCR à jour 01/01/2024 31/12/2049 vitaled test issuer root root.crl (1 révoqué)"
         in lines, "trust list in French: statuses and dates as 31/12/2049", lines)
    same_json(t, ["trust", "list", "--dir", trust], "trust list")


def test_errors_no_daemon(t, bus):
    c, fr = both(t, ["readers"], "readers without vitaled", bus=bus)
    t.eq(c.returncode, 3, "readers without vitaled: exit 3")
    t.ok("vitaled n'est pas lancé ou ne répond pas" in fr.stderr
         and "Démarrez-le avec « systemctl start vitaled »" in fr.stderr,
         "readers without vitaled: why, in French", fr.stderr)
    c, fr = both(t, ["status"], "status without vitaled", bus=bus)
    same_json(t, ["status"], "status without vitaled", bus=bus)
    c, fr = both(t, ["frobnicate"], "an unknown command")
    t.ok(c.returncode == 2 and "commande inconnue « frobnicate »" in fr.stderr,
         "unknown command: exit 2, said in French", fr.stderr)


# ---- against the daemon -------------------------------------------------------

def wait_card(bus, reader_index, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = run(["--json", "readers"], C, "root", bus)
        if r.returncode == 0:
            for rd in json.loads(r.stdout):
                if rd["name"] == "Virtual PCD 00 0%d" % reader_index and rd["card"] \
                        and rd["card"]["state"] == "done":
                    return rd["card"]
        time.sleep(0.1)
    raise TimeoutError("no card read in reader %d" % reader_index)


def wait_no_card(bus, reader_index, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readers = json.loads(run(["--json", "readers"], C, "root", bus).stdout)
        if all(rd["card"] is None for rd in readers
               if rd["name"] == "Virtual PCD 00 0%d" % reader_index):
            return
        time.sleep(0.1)
    raise TimeoutError("card still in reader %d" % reader_index)


def test_status(t, bus):
    c, fr = both(t, ["status"], "status", who="member", bus=bus)
    lines = squeeze(fr.stdout)
    t.ok(re.match(r"vitaled \d+\.\d+\.\d+ est en marche$", lines[0]), "status: first line",
         lines)
    for want in ("pcscd : joignable",
                 "magasin de confiance : 1 racine, 5 certificats de signature, 1 LCR, "
                 "2 numéros en opposition",
                 "cartes de test : refusées",
                 "à contact libre Virtual PCD 00 00",
                 "attention : un certificat de confiance a expiré le 01/01/2021 "
                 "(voir « vitalectl trust list »)"):
        t.ok(want in lines, "status in French: %s" % want, lines)
    t.ok(any(re.match(r"première expiration le \d\d/\d\d/\d{4}, prochaine mise à jour des "
                      r"LCR le 31/12/2049$", x) for x in lines), "status: French dates", lines)
    j = same_json(t, ["status"], "status", who="member", bus=bus)
    t.eq(j["warnings"], ["a trust certificate expired on 2021-01-01 (see 'vitalectl trust list')"],
         "status --json in French: the warning in English, its date ISO")
    c, fr = both(t, ["status"], "status as an outsider", who="outsider", bus=bus)
    t.ok(c.returncode == 4 and "accès refusé" in fr.stderr
         and "usermod -aG vitaled-clients UTILISATEUR" in fr.stderr,
         "status as an outsider: exit 4, what to do in French", fr.stderr)


def test_readers(t, bus):
    c, fr = both(t, ["readers"], "readers", bus=bus)
    lines = squeeze(fr.stdout)
    t.eq(lines[0], "TYPE ÉTAT CARTE NOM IDENTIFIANT", "readers in French: header")
    t.ok(re.match(r"à contact libre - Virtual PCD 00 00 pcsc-\S+$", lines[1]),
         "readers in French: kind and state in words", lines)
    same_json(t, ["readers"], "readers", bus=bus)


def test_show(t, bus, pcsc):
    pcsc.insert(0, profile="card", variant="reference")
    card = wait_card(bus, 0)
    c, fr = both(t, ["show", "--date", "2026-06-01"], "show", bus=bus)
    lines = squeeze(fr.stdout)
    want = [
        "Carte %s : carte physique, vérifiée" % card["path"],
        "émetteur Assurance Maladie (vitaled test), numéro de série VTD0000000001, "
        "valable du 01/01/2024 au 31/12/2034",
        "régime 01, caisse 751, centre 0751, code gestion 10",
        "",
        "Droits au 01/06/2026 :",
        "# NOM NAISSANCE QUALITÉ NIR AMO C2S",
        "1 MARTIN Pierre 15/03/1980 assuré 1 80 03 75 056 123 10 ouverts jusqu'au 31/12/2035",
        "couverture : exonération 0, situation 0, du 01/01/2024 au 31/12/2035",
        "AMC 99999997 adhérent MUT-0001-A, garantie RC, aiguillage SP, "
        "du 01/01/2024 au 31/12/2026",
        "2 MARTIN Sophie (nom de naissance DUBOIS) 22/04/1982 conjoint 2 82 04 75 056 124 71 "
        "ouverts jusqu'au 31/12/2035",
        "couverture : exonération 4, situation ALD, du 01/06/2025 au (sans limite)",
        "AMC 99999997 adhérent MUT-0001-B, garantie RC, aiguillage SP, "
        "du 01/01/2024 au 31/12/2026",
        "3 MARTIN Léa 17/01/2010 enfant - ouverts jusqu'au 31/12/2035",
        "4 MARTIN Hugo 09/03/2012 enfant - ouverts jusqu'au 08/03/2028",
    ]
    t.eq(lines, want, "show in French: golden table on 01/06/2026 (dates, NIR grouped)")
    c, fr = both(t, ["show", "--date", "2029-01-01"], "show on 2029-01-01", bus=bus)
    t.ok(re.search(r"MARTIN Hugo +09/03/2012 +enfant +- +fermés", fr.stdout)
         and "31/12/2026 (pas en vigueur)" in fr.stdout,
         "show in French: closed rights, AMC not in force", fr.stdout)
    j = same_json(t, ["show", "--date", "2026-06-01"], "show", bus=bus)
    t.eq([b["BirthDate"] for b in j["beneficiaries"]][:1], ["1980-03-15"],
         "show --json in French: dates stay ISO")
    pcsc.remove(0)
    wait_no_card(bus, 0)
    pcsc.insert(0, profile="card", variant="wrong-hash")
    forged = wait_card(bus, 0)
    c, fr = both(t, ["show", forged["path"]], "show of a forged card", bus=bus)
    t.ok(c.returncode == 1 and "la carte %s n'a pas été vérifiée (falsifiée)" % forged["path"]
         in fr.stderr, "show of a forged card: exit 1, the Status in French", fr.stderr)
    same_json(t, ["readers"], "readers with a forged card", bus=bus)
    c, fr = both(t, ["readers"], "readers with a forged card", bus=bus)
    t.ok(re.search(r"^à contact +carte présente +falsifiée ", fr.stdout, re.M),
         "readers in French: the card's Status in words", fr.stdout)


def test_diag(t, bus, pcsc):
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write("[Trust]\nDirectory = %s\n" % vpki.trust_dir())
    conf.close()
    os.chmod(conf.name, 0o644)
    argv = ["--config", conf.name, "diag"]
    pcscd = {"PCSCLITE_CSOCK_NAME": pcsc.socket}
    c, fr = both(t, argv, "diag", bus=bus, extra=pcscd)
    t.ok(re.search(r"^\[ OK \] vitaled en marche : vitaled \S+ répond sur le bus système$",
                   fr.stdout, re.M), "diag in French: the daemon check", fr.stdout)
    t.ok(re.search(r"^\[ OK \] horloge : \d\d/\d\d/\d{4} \d\d:\d\d:\d\d$", fr.stdout, re.M),
         "diag in French: the clock as 07/12/2026 10:00:00", fr.stdout)
    t.ok(re.search(r"^\[ KO \] carte dans Virtual PCD 00 00 : ATR [0-9A-F ]+ ; falsifiée : .*\n"
                   r" +solution : les données de la carte ne correspondent pas à sa signature",
                   fr.stdout, re.M), "diag in French: the forged card and its fix", fr.stdout)
    t.ok(re.search(r"^\d+ réussies?, \d+ avertissements?, [1-9]\d* en échec$", fr.stdout, re.M),
         "diag in French: the summary", fr.stdout)

    def no_clock(j):   # the clock's detail is the time of each run
        for x in j["checks"]:
            if x["check"] == "clock":
                t.ok(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", x["detail"]),
                     "diag --json: the clock in ISO", x)
                x["detail"] = "(now)"
        return j
    same_json(t, argv, "diag", bus=bus, mask=no_clock, extra=pcscd)
    os.unlink(conf.name)
    pcsc.remove(0)


def test_bundle(t, bus, first):
    """A signed trust bundle, expiring in 10 days, installed with vitalectl
    trust install: the bundle lines of status, trust list and diag, and
    install's own words, in French."""
    first.stop()
    pub = os.path.join(bus.dir, "bundle")   # the daemon's user reads it
    tl = vb.TrustListPki(os.path.join(pub, "tl"))
    expires = int(time.time()) + 10 * 86400
    b1, empty = os.path.join(pub, "v1.bundle"), os.path.join(pub, "empty.bundle")
    tl.build(vpki.trust_dir(), b1, 1, expires="@%d" % expires)
    open(empty, "w").close()
    for dirpath, dirs, files in os.walk(pub):
        os.chmod(dirpath, 0o755)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)
    d = bus.start_vitaled("[General]\nEnablePlugins = \n[Trust]\nDirectory = %s\n"
                          "ListRootDirectory = %s\nDropDirectory = \n"
                          % (vpki.trust_dir(), tl.roots))
    cfg = ["--config", d.conf_path]
    c, fr = both(t, cfg + ["trust", "install", empty], "trust install of an empty file",
                 bus=bus)
    t.ok(c.returncode == 1 and "vitalectl : %s : vide : ce n'est pas un lot de confiance"
         % empty in fr.stderr, "trust install of an empty file: exit 1, said in French",
         fr.stderr)
    r = run(cfg + ["trust", "install", b1], FR, "root", bus)
    t.ok(r.returncode == 0 and "lot de confiance version 1 en vigueur (%s)" % b1 in r.stdout,
         "trust install in French", (r.stdout, r.stderr))
    date = time.strftime("%d/%m/%Y", time.gmtime(expires))   # TZ=UTC
    c, fr = both(t, ["status"], "status with a trust bundle", who="member", bus=bus)
    lines = squeeze(fr.stdout)
    for want in ("issu du lot de confiance version 1 (vitalectl:v1.bundle), qui expire le %s"
                 % date,
                 "attention : le lot de confiance expire le %s : installez d'ici là le lot "
                 "suivant de l'émetteur" % date):
        t.ok(want in lines, "status in French: %s" % want, lines)
    same_json(t, ["status"], "status with a trust bundle", who="member", bus=bus)
    c, fr = both(t, cfg + ["trust", "list"], "trust list with a trust bundle", bus=bus,
                 data=["vitaled test issuer root"])
    t.ok(re.match(r"Lot de confiance version 1, émis le \d\d/\d\d/\d{4}, expire le %s, venu de "
                  r"vitalectl:v1\.bundle$" % re.escape(date), squeeze(fr.stdout)[0]),
         "trust list in French: the bundle in force", fr.stdout)
    same_json(t, cfg + ["trust", "list"], "trust list with a trust bundle", bus=bus)
    c, fr = both(t, cfg + ["diag"], "diag with a trust bundle", bus=bus)
    t.ok(re.search(r"^\[[^]]+\] lot de confiance : le lot de confiance expire le %s : .*\n"
                   r" +solution : récupérez le lot de confiance en vigueur de l'émetteur : "
                   r"« systemctl start vitaled-trust-update », ou « vitalectl trust install "
                   r"FICHIER »$" % re.escape(date), fr.stdout, re.M),
         "diag in French: the expiring bundle and its fix", fr.stdout)
    d.stop()


def main():
    t = Tap()
    t.run(test_locale)
    t.run(test_catalogue)
    t.run(test_help)
    t.run(test_trust_list)
    try:
        with Pcsc() as pcsc, SystemBus() as bus:
            pcsc.share_socket()  # the daemon's user reaches pcscd's socket
            t.run(test_errors_no_daemon, bus)
            conf = "[Trust]\nDirectory = %s\n[General]\nEnablePlugins = pcsc\n" % \
                vpki.trust_dir()
            d = bus.start_vitaled(conf, env={"PCSCLITE_CSOCK_NAME": pcsc.socket})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = run(["--json", "readers"], C, "root", bus)
                if r.returncode == 0 and len(json.loads(r.stdout)) == 2:
                    break
                time.sleep(0.1)
            t.run(test_status, bus)
            t.run(test_readers, bus)
            t.run(test_show, bus, pcsc)
            t.run(test_diag, bus, pcsc)
            t.run(test_bundle, bus, d)
    except (HarnessUnavailable, BusUnavailable) as e:
        t.skip("vitalectl in French against the daemon", str(e))
    t.done()


if __name__ == "__main__":
    main()
