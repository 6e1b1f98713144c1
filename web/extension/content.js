/* vitaled web bridge: content script.
 *
 * The page talks to us with window.postMessage({vitaled: 1, kind: "request", ...}).
 * We take only what the page's own window posted (event.source === window:
 * not another frame, not another window) and answer only to this document's
 * origin.  We never tell the background which origin we are: the browser
 * does, on the port's sender.  Data reaches the page only while it is
 * visible; a page that was hidden gets one "resync" event when it is seen
 * again and asks afresh. */
"use strict";

(() => {
	const api = globalThis.browser || globalThis.chrome;
	const MAX_ID = 0x7fffffff;
	let port = null;
	let missed = false;	/* events withheld while hidden */

	const visible = () => document.visibilityState === "visible";

	function toPage(msg)
	{
		window.postMessage(Object.assign({ vitaled: 1 }, msg), window.location.origin);
	}

	function openPort()
	{
		port = api.runtime.connect({ name: "vitaled" });
		port.onMessage.addListener((msg) => {
			if (msg.kind === "event" && !visible()) {
				missed = true;
				return;
			}
			toPage(msg);
		});
		port.onDisconnect.addListener(() => {
			port = null;
			toPage({ kind: "event", event: "disconnected" });
		});
	}

	window.addEventListener("message", (ev) => {
		if (ev.source !== window || ev.origin !== window.location.origin)
			return;
		const m = ev.data;
		if (!m || typeof m !== "object" || m.vitaled !== 1 || m.kind !== "request")
			return;
		const id = Number.isInteger(m.id) && m.id > 0 && m.id <= MAX_ID ? m.id : 0;
		if (!id)
			return;
		if (!visible()) {
			toPage({ kind: "response", id, error: "hidden" });
			return;
		}
		if (!port)
			openPort();
		/* Only these fields go on; whatever else the page wrote (an
		 * "origin", say) stays here. */
		try {
			port.postMessage({ id, method: m.method, params: m.params });
		} catch (e) {	/* not JSON-serialisable */
			toPage({ kind: "response", id, error: "malformed" });
		}
	});

	document.addEventListener("visibilitychange", () => {
		if (visible() && missed && port) {
			missed = false;
			toPage({ kind: "event", event: "resync" });
		}
	});
})();
