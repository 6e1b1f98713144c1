#!/usr/bin/python3
"""The web bridge end to end, in real browsers: headless Chromium (and
Firefox ESR for the main case and one refusal) with the unpacked extension
built from web/extension, the real vitaled-web-bridge host started by the
browser as the desktop user, a private system bus with our policy, the real
daemon, the real pcscd with vpcd and the card emulator, and pages served
over HTTPS at named origins (test CA made with openssl now).

- an allowed origin sees the readers, then the card inserted, verified, with
  the beneficiaries `vitalectl --json show` gives; the page is kept as a
  screenshot (tests/web-reception*.png in the build directory); the toolbar
  popup lists the origin; closing the tab ends the host;
- only the visible tab gets data: a tab in the background is told nothing
  until it is shown again, then catches up;
- refused, and logged: an origin not on the allow-list, an http: page, a
  cross-origin iframe inside an allowed page, a page writing a fake origin
  into its message, a desktop user not in the client group, an extension
  ID the host manifest does not name;
- over-size and malformed messages get a clean error; host and daemon live on;
- no personal data in the host's or the extension's logs.
"""
import json
import os
import shutil
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import family as vfam  # noqa: E402
from vtest.browser import Chromium, Firefox  # noqa: E402
from vtest.bus import BusUnavailable  # noqa: E402
from vtest.daemon import vitalectl_path  # noqa: E402
from vtest.paths import builddir  # noqa: E402
from vtest.pcsc import HarnessUnavailable  # noqa: E402
from vtest.proc import wait_for  # noqa: E402
from vtest.webrig import WebRig, HOST_COMM  # noqa: E402

OTHER_ID = "aaaabbbbccccddddeeeeffffgggghhhh"
NAMES = ["reception.test", "other.test", "evil.test"]
ALLOWED = ["reception.test", "other.test"]
SECRETS = vfam.secrets(vfam.load("reference"))

t = Tap()


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def page_rows(tab):
    return json.loads(tab.eval(
        "JSON.stringify([...document.querySelectorAll('#beneficiaries tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.textContent)))"))


def want_rows(shown):
    out = []
    for b in shown["beneficiaries"]:
        name = b["UsualName"]
        if b["BirthName"] and b["BirthName"] != b["UsualName"]:
            name += " (born %s)" % b["BirthName"]
        out.append([name, b["FirstName"], b["BirthDate"], b["Nir"],
                    "%s (%s)" % ("Rights open" if b["AmoOpen"] else "Rights closed",
                                 b["RightsDate"])])
    return out


def leaks(text):
    return [s for s in SECRETS if s in text]


def daemon_has_card(rig):
    readers = rig.ctl_json("readers") or []
    return any(r["card"] and r["card"]["state"] == "done" for r in readers)


def card_rendered(tab):
    return tab.wait("document.getElementById('card').dataset.rendered", 60)


def probe(b, url, key="document.body && document.body.dataset.result"):
    tab = b.open(url)
    try:
        return tab.wait(key, 30)
    finally:
        tab.close()


# ---- Chromium --------------------------------------------------------------

def test_main(t, rig, b, out):
    pcsc, site = rig.pcsc, rig.site
    tab = b.open(site.url("reception.test", "/demo/"))
    t.ok(tab.wait("document.body.dataset.ready || document.body.dataset.error") == "1",
         "allowed origin: the reception page connects", b.log()[-3000:])
    readers = json.loads(tab.eval(
        "JSON.stringify([...document.querySelectorAll('#readers li')].map(l => l.textContent))"))
    t.ok(len(readers) == 2,
         "the page shows the two readers", readers)
    t.ok(all("Virtual PCD 00 0" in r for r in readers), "with their names", readers)
    hosts = b.children_named(HOST_COMM)
    t.ok(len(hosts) == 1,
         "one host process for the page", b.pids())

    pcsc.insert(0, profile="card", variant="reference")
    t.ok(card_rendered(tab), "the card inserted appears in the page, read",
         tab.eval("document.body.innerText"))
    t.eq(tab.eval("document.getElementById('card').dataset.status"), "verified",
         "the page shows it verified")
    shown = rig.ctl_json("show", "--date", today())
    t.ok(shown and shown["status"] == "verified", "vitalectl --json show: verified", shown)
    rows = page_rows(tab)
    t.eq(rows, want_rows(shown), "the page's beneficiaries are vitalectl's, rights on today")
    t.eq(len(rows), 4, "four beneficiaries")
    t.eq(tab.eval("document.getElementById('card').textContent"), "Verified — 4 beneficiaries",
         "the card's verdict and count, in English as navigator.language asks")
    shot = os.path.join(out, "web-reception.png")
    tab.screenshot(shot)
    t.ok(os.path.getsize(shot) > 10000, "screenshot of the reception page kept: %s" % shot)

    # The toolbar button's popup lists the connected origin.
    pop = b.open("chrome-extension://%s/popup.html" % b.extension_id())
    listed = pop.wait("document.body.dataset.ready && JSON.stringify("
                      "[...document.querySelectorAll('#origins li')].map(l => l.textContent))")
    t.eq(json.loads(listed or "[]"), [site.origin("reception.test")],
         "the extension's popup lists the connected origin")
    pop.close()

    # Pulling the card clears it.
    pcsc.remove(0)
    t.ok(tab.wait("document.getElementById('card').dataset.state === 'none'"),
         "the card pulled leaves the page")
    tab.close()
    t.ok(wait_for(lambda: not any(p in b.pids() for p in hosts), 30),
         "closing the tab ends the host process", b.pids())


def test_visibility(t, rig, b):
    pcsc, site = rig.pcsc, rig.site
    """Only the tab the user looks at gets data."""
    tab = b.open(site.url("reception.test", "/demo/"))
    t.eq(tab.wait("document.body.dataset.ready || document.body.dataset.error"), "1",
         "visibility: the page connects")
    other = b.open("about:blank")
    b.activate(other)
    hidden = tab.wait("document.visibilityState === 'hidden'", 10)
    if not hidden:
        t.skip("visibility", "this Chromium does not hide a background tab when headless")
        other.close()
        tab.close()
        return
    pcsc.insert(1, profile="card", variant="reference")
    t.ok(wait_for(lambda: daemon_has_card(rig), 60), "visibility: the daemon read the card")
    t.eq(tab.eval("document.getElementById('card').dataset.state"), "none",
         "a tab in the background was told nothing of the card")
    b.activate(tab)
    t.ok(card_rendered(tab), "shown again, the tab catches up (resync) and renders the card")
    other.close()
    pcsc.remove(1)
    tab.close()


def test_refusals(t, rig, b):
    site = rig.site
    r = probe(b, site.url("evil.test", "/test/probe.html"))
    t.eq(r, "error:origin-refused", "an origin not on the allow-list is refused")
    t.ok("origin %s is not on the allow-list" % site.origin("evil.test") in b.log(),
         "… and the host logs it", b.log()[-2000:])

    r = probe(b, site.http_url("reception.test", "/test/probe.html"))
    t.eq(r, "error:origin-refused", "an http: page (of an allowed host name) is refused")
    t.ok("refused: malformed origin" in b.log(), "… and the host logs it")

    r = probe(b, site.url("other.test", "/test/probe.html"))
    t.eq(r, "ok:2 readers", "other.test on its own is allowed (the control for the frame)")
    r = probe(b, site.url("reception.test", "/test/frame.html?src=" +
                          site.url("other.test", "/test/probe.html")),
              "(t => t !== 'pending' && t)(document.getElementById('frame-result').textContent)")
    t.eq(r, "error:origin-refused", "a cross-origin iframe inside an allowed page is refused")
    t.ok("vitaled: refused %s: frame of another origin" % site.origin("other.test") in b.log(),
         "… and the extension logs it", b.log()[-3000:])
    r = probe(b, site.url("reception.test", "/test/frame.html?src=" +
                          site.url("reception.test", "/test/probe.html")),
              "(t => t !== 'pending' && t)(document.getElementById('frame-result').textContent)")
    t.eq(r, "ok:2 readers", "a same-origin iframe is served")
    r = probe(b, site.url("reception.test", "/test/frame.html?self=1&src=" +
                          urllib.parse.quote(site.url("other.test", "/test/probe.html?poke=1"))),
              "(t => t !== 'pending' && t)(document.getElementById('frame-result').textContent)")
    t.eq(r, "poked; poke answered: false; own: ok:2",
         "a frame posting a request into its allowed parent's window is ignored "
         "(the parent's own request, after it, is served)")

    r = probe(b, site.url("evil.test", "/test/probe.html?fake=" +
                          site.origin("reception.test")))
    t.eq(r, "error:origin-refused",
         "a page writing an allowed origin into its message is refused")
    log = b.log()
    t.ok(log.count("origin %s is not on the allow-list" % site.origin("evil.test")) >= 2,
         "… the host logs the origin the browser reported, not the page's")


def test_bad_messages(t, rig, b):
    site = rig.site
    tab = b.open(site.url("reception.test", "/test/probe.html"))
    t.eq(tab.wait("document.body.dataset.result"), "ok:2 readers", "bad messages: page connected")
    hosts = b.children_named(HOST_COMM)
    send = """(async (msgs) => {
        const out = [];
        for (const [i, m] of msgs.entries()) {
            const id = 100 + i;
            out.push(await new Promise((res) => {
                const f = (ev) => {
                    if (ev.source === window && ev.data && ev.data.kind === 'response'
                        && ev.data.id === id) {
                        removeEventListener('message', f); res(ev.data.error || 'ok');
                    }
                };
                addEventListener('message', f);
                try {
                    postMessage(Object.assign({vitaled: 1, kind: 'request', id}, m(id)),
                                location.origin);
                } catch (e) { removeEventListener('message', f); res('page:' + e.name); }
            }));
        }
        document.body.dataset.bad = JSON.stringify(out);
    })(%s).catch((e) => { document.body.dataset.bad = JSON.stringify(['exception: ' + e]); })"""
    cases = [
        ("an over-size call (100 KiB)", "too-large",
         "() => ({method: 'getReaders', params: {pad: 'x'.repeat(100 * 1024)}})"),
        ("a method that is not a string", "malformed", "() => ({method: 42})"),
        ("params that are not an object", "malformed",
         "() => ({method: 'getReaders', params: [1, 2]})"),
        ("params JSON cannot carry", "malformed",
         "() => ({method: 'getReaders', params: {n: 10n}})"),
        ("an unknown method", "unknown-method", "() => ({method: 'frobnicate', params: {}})"),
        ("a card path that is not one", "invalid-arguments",
         "() => ({method: 'getBeneficiaries', params: {card: '/etc/passwd', date: ''}})"),
        ("deeply nested params", "malformed",
         "() => ({method: 'getReaders', params: JSON.parse('{\"a\":'.repeat(50) + '1' + "
         "'}'.repeat(50))})"),
        ("and then a good call", "ok", "() => ({method: 'getReaders', params: {}})"),
    ]
    tab.eval(send % ("[" + ",".join(c[2] for c in cases) + "]"))
    got = json.loads(tab.wait("document.body.dataset.bad") or "[]")
    t.diag("answers: %r" % got)
    for (what, want, _), g in zip(cases, got + [None] * len(cases)):
        t.eq(g, want, "%s: %s" % (what, want))
    t.eq(b.children_named(HOST_COMM), hosts, "the same host process answered throughout")
    # Two clients in one page share its session: their answers must not cross
    # (no card in: readers() has two entries, cards() none).
    tab.eval("""(async () => {
        const { connect } = await import('/vitaled.js');
        const [a, c] = await Promise.all([connect(), connect()]);
        const [r, k] = await Promise.all([a.readers(), c.cards()]);
        document.body.dataset.two = JSON.stringify([r.length, k.length]);
    })(), 1""")
    t.eq(json.loads(tab.wait("document.body.dataset.two") or "null"), [2, 0],
         "two vitaled.js clients in one page get their own answers")
    r = rig.bus.run_as("member", [vitalectl_path(), "status"])
    t.ok(r.returncode == 0,
         "the daemon is alive", r.stdout + r.stderr)
    tab.close()


def test_outsider(t, rig):
    """A desktop user not in vitaled-clients: the host starts, the daemon says
    no.  This browser speaks French: so do the page and vitaled.js."""
    site = rig.site
    with rig.chromium("outsider", lang="fr-FR") as b:
        r = probe(b, site.url("reception.test", "/test/probe.html"))
        t.eq(r, "error:access-denied", "a desktop user not in the client group is refused")
        t.ok("getReaders: access-denied" in b.log(), "… and the host logs it", b.log()[-2000:])
        tab = b.open(site.url("reception.test", "/demo/"))
        t.eq(tab.wait("document.body.dataset.error"), "access-denied", "the demo page too")
        t.eq((tab.eval("document.documentElement.lang"), tab.eval("document.title"),
              tab.eval("document.getElementById('status').textContent")),
             ("fr", "Accueil — Carte Vitale",
              "Votre compte n'est pas autorisé à lire la carte Vitale."),
             "in French, as navigator.language asks")
        # "malformed" is an error code and a verdict: each has its own words
        tab.eval("""(async () => {
            const m = await import('/vitaled.js');
            document.body.dataset.words = JSON.stringify([m.text('malformed'),
                m.stateText('malformed'), m.stateText('verified'), m.stateText('idle', 'en')]);
        })(), 1""")
        t.eq(json.loads(tab.wait("document.body.dataset.words") or "null"),
             ["Requête invalide.", "Données mal formées", "Vérifiée", "No card"],
             "vitaled.js: an error code and a card's verdict of the same name read apart")
        tab.close()


def test_wrong_id(t, rig):
    site = rig.site
    m = dict(rig.hosts["chromium"], allowed_origins=["chrome-extension://%s/" % OTHER_ID])
    with rig.chromium("member", manifest=m) as b:
        r = probe(b, site.url("reception.test", "/test/probe.html"))
        t.eq(r, "error:no-host",
             "an extension ID not in the host manifest cannot start the host")
        t.ok("forbidden" in b.log() and "vitaled: host for %s" % site.origin("reception.test")
             in b.log(), "… the browser refuses, the extension logs it", b.log()[-2000:])
        t.eq(b.children_named(HOST_COMM), [], "no host process ran")


def test_firefox(t, rig, out):
    pcsc, site = rig.pcsc, rig.site
    with rig.firefox("member") as b:
        tab = b.open(site.url("reception.test", "/demo/"))
        t.ok(tab.wait("document.body.dataset.ready || document.body.dataset.error") == "1",
         "Firefox: the reception page connects", b.log()[-3000:])
        pcsc.insert(0, profile="card", variant="reference")
        t.ok(card_rendered(tab), "Firefox: the card inserted is rendered")
        shown = rig.ctl_json("show", "--date", today())
        t.eq(page_rows(tab), want_rows(shown), "Firefox: the beneficiaries are vitalectl's")
        tab.screenshot(os.path.join(out, "web-reception-firefox.png"))
        pcsc.remove(0)
        hosts_before = b.children_named(HOST_COMM)
        tab.close()
        t.ok(hosts_before and wait_for(lambda: not b.children_named(HOST_COMM), 30),
             "Firefox: closing the tab ends the host", hosts_before)
        r = probe(b, site.url("evil.test", "/test/probe.html"))
        t.eq(r, "error:origin-refused", "Firefox: an origin not on the allow-list is refused")
        # Firefox keeps the host's stderr in its browser console; the
        # extension's console (on stdout here) says what the host answered.
        t.ok("vitaled: host refused %s: origin-refused" % site.origin("evil.test") in b.log(),
             "… and it is logged", b.log()[-2000:])
        t.eq(leaks(b.log()), [], "Firefox: no personal data in the browser's log")


def main():
    for need in (Chromium.binary, Firefox.binary, shutil.which("certutil")):
        if not need or not os.access(need, os.X_OK):
            # scripts/deps.sh installs them: their absence is the machine's defect
            t.ok(False, "browser test prerequisites installed (scripts/deps.sh)", need)
            t.done()
    out = os.path.join(builddir(), "tests")
    os.makedirs(out, exist_ok=True)
    rig = WebRig(NAMES, ALLOWED)
    try:
        try:
            rig.start()
        except (BusUnavailable, HarnessUnavailable) as e:
            print("1..0 # SKIP %s" % e)
            sys.exit(0)
        with rig.chromium("member") as b:
            t.run(test_main, rig, b, out)
            t.run(test_visibility, rig, b)
            t.run(test_refusals, rig, b)
            t.run(test_bad_messages, rig, b)
            t.eq(leaks(b.log()), [], "no personal data in the host's or the extension's log")
        t.run(test_outsider, rig)
        t.run(test_wrong_id, rig)
        t.run(test_firefox, rig, out)
    finally:
        rig.stop()
    t.done()


if __name__ == "__main__":
    main()
