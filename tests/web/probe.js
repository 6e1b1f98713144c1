// A test page: connects with vitaled.js and says how it went, in
// body[data-result] ("ok:N readers" or "error:CODE"), and to its parent
// when framed.  ?poke: posts a request into its parent's window instead.
// ?fake=ORIGIN: talks to the content script by hand and
// writes ORIGIN into its message, as a page lying about itself would.
import { connect } from "../vitaled.js";

const q = new URLSearchParams(location.search);

function done(result)
{
	document.body.dataset.result = result;
	document.getElementById("result").textContent = result;
	if (parent !== window)
		parent.postMessage({ probe: result }, "*");
}

function fake(origin)
{
	window.addEventListener("message", (ev) => {
		const m = ev.data;
		if (ev.source !== window || !m || m.vitaled !== 1)
			return;
		if (m.kind === "response" && m.id === 7)
			done(m.error ? "error:" + m.error : "ok:" + m.result.length + " readers");
		else if (m.kind === "event" && m.event === "refused")
			done("error:" + m.error);
	});
	window.postMessage({ vitaled: 1, kind: "request", id: 7, method: "getReaders", params: { origin },
		origin, sender: { origin, url: origin + "/" } }, location.origin);
}

if (q.has("poke")) {
	// A frame trying to use its parent's session: post a request into the
	// parent's window, as if the parent had written it.
	parent.postMessage({ vitaled: 1, kind: "request", id: 9, method: "getReaders", params: {} }, "*");
	done("poked");
} else if (q.has("fake"))
	fake(q.get("fake"));
else
	connect().then((v) => done("ok:" + v.initialReaders.length + " readers"),
		(e) => done("error:" + e.code));
