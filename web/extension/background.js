/* vitaled web bridge: background (Chromium service worker, Firefox event page).
 *
 * One native host per connected page: a content script's port comes in, we
 * start org.vitaled.web_bridge for it, say hello with the origin THE BROWSER
 * reports for that page, and relay calls and events.  When the page goes
 * (closed, navigated, reloaded) its port drops and we drop the host's: the
 * host sees end of file and exits.  Whether the origin may use vitaled is
 * the host's decision (the administrator's allow-list); what we refuse here
 * is only what can never be right: a frame of another origin than its tab,
 * a tab in the background, messages the host would refuse anyway. */
"use strict";

const api = globalThis.browser || globalThis.chrome;
const HOST = "org.vitaled.web_bridge";
const PROTOCOL = 1;
const MAX_CALL = 60 * 1024;		/* the host refuses over 64 KiB, and exits */
const MAX_METHOD = 64;
const MAX_DEPTH = 6;			/* params' nesting: the host parses 8 levels in all */
const MAX_PENDING = 64;
const HELLO_ID = 1;

/* A page's port may be gone by the time we answer. */
function post(port, msg)
{
	try {
		port.postMessage(msg);
	} catch (e) {
		/* disconnected: nobody to tell */
	}
}

/* port (page) -> its session */
const sessions = new Map();

/* Arrays and objects nested in v, v itself included; stops counting past max. */
function depth(v, max)
{
	if (v === null || typeof v !== "object")
		return 0;
	if (max <= 1)
		return 1;
	let d = 0;
	for (const k of Object.keys(v)) {
		d = Math.max(d, depth(v[k], max - 1));
		if (d >= max)
			break;
	}
	return d + 1;
}

function senderOrigin(sender)
{
	/* Chromium gives sender.origin; Firefox only sender.url. */
	if (typeof sender.origin === "string" && sender.origin !== "null")
		return sender.origin;
	try {
		return new URL(sender.url).origin;
	} catch (e) {
		return "null";
	}
}

function tabOrigin(sender)
{
	try {
		return new URL(sender.tab.url).origin;
	} catch (e) {
		return "null";
	}
}

async function tabActive(tabId)
{
	try {
		return (await api.tabs.get(tabId)).active;
	} catch (e) {
		return false;
	}
}

/* What the toolbar button shows: origins with an accepted host. */
function connected()
{
	const list = [];
	for (const s of sessions.values())
		if (s.accepted)
			list.push({ origin: s.origin, tab: s.tabId });
	return list;
}

function updateBadge()
{
	const n = connected().length;
	api.action.setBadgeText({ text: n ? String(n) : "" });
}

function refuse(port, origin, why)
{
	console.warn(`vitaled: refused ${origin}: ${why}`);
	post(port, { kind: "event", event: "refused", error: "origin-refused" });
	port.disconnect();
}

function endSession(s)
{
	if (!sessions.delete(s.port))
		return;
	if (s.native)
		s.native.disconnect();
	for (const id of s.pending.values())
		post(s.port, { kind: "response", id, error: "no-daemon" });
	s.pending.clear();
	updateBadge();
}

function fromHost(s, msg)
{
	if (!msg || typeof msg !== "object")
		return;
	if (msg.type === "hello" && msg.id === HELLO_ID) {
		s.accepted = true;
		s.version = msg.version;
		updateBadge();
		for (const m of s.queue.splice(0))
			toHost(s, m);
		return;
	}
	if (msg.type === "event") {
		const ev = Object.assign({}, msg, { kind: "event" });
		delete ev.type;
		post(s.port, ev);
		return;
	}
	if (msg.type === "result" || msg.type === "error") {
		if (msg.id === HELLO_ID) {	/* the hello was refused */
			console.warn(`vitaled: host refused ${s.origin}: ${msg.error}`);
			s.refused = true;
			post(s.port, { kind: "event", event: "refused", error: msg.error });
			return;
		}
		const pageId = s.pending.get(msg.id);
		if (pageId === undefined)
			return;
		s.pending.delete(msg.id);
		post(s.port, msg.type === "result"
			? { kind: "response", id: pageId, result: msg.result }
			: { kind: "response", id: pageId, error: msg.error, message: msg.message });
	}
}

async function toHost(s, m)
{
	const reply = (error) => post(s.port, { kind: "response", id: m.id, error });

	if (typeof m.method !== "string" || m.method.length > MAX_METHOD ||
	    (m.params !== undefined && (m.params === null || typeof m.params !== "object" ||
	                                Array.isArray(m.params))))
		return reply("malformed");
	let size;
	try {
		size = JSON.stringify(m.params || {}).length;
	} catch (e) {
		return reply("malformed");
	}
	if (size > MAX_CALL)
		return reply("too-large");
	/* The host could not parse it, hence not say which call it was. */
	if (depth(m.params || {}, MAX_DEPTH + 1) > MAX_DEPTH)
		return reply("malformed");
	if (!s.accepted) {
		if (s.queue.length >= MAX_PENDING)
			return reply("busy");
		s.queue.push(m);
		return;
	}
	/* Data only for the tab the user is looking at. */
	if (!(await tabActive(s.tabId)))
		return reply("hidden");
	if (!sessions.has(s.port) || !s.native)
		return reply("no-daemon");
	if (s.pending.size >= MAX_PENDING)
		return reply("busy");
	const id = s.nextId++;
	s.pending.set(id, m.id);
	s.native.postMessage({ type: "call", id, method: m.method, params: m.params || {} });
}

api.runtime.onConnect.addListener((port) => {
	const sender = port.sender;
	if (port.name !== "vitaled" || !sender || !sender.tab || sender.id !== api.runtime.id)
		return port.disconnect();
	const origin = senderOrigin(sender);
	/* A frame speaks for itself only inside a page of its own origin: an
	 * allowed page's data must not go to a frame another site put there,
	 * nor an allowed frame's to the page that embeds it. */
	if (sender.frameId !== 0 && origin !== tabOrigin(sender))
		return refuse(port, origin, "frame of another origin than its tab " + tabOrigin(sender));

	const s = {
		port, origin, tabId: sender.tab.id, accepted: false, native: null,
		nextId: HELLO_ID + 1, pending: new Map(), queue: [], version: null, refused: false,
	};
	sessions.set(port, s);
	try {
		s.native = api.runtime.connectNative(HOST);
	} catch (e) {
		console.warn(`vitaled: cannot start the host for ${origin}`);
		post(port, { kind: "event", event: "refused", error: "no-host" });
		endSession(s);
		port.disconnect();
		return;
	}
	s.native.onMessage.addListener((msg) => fromHost(s, msg));
	s.native.onDisconnect.addListener(() => {
		const err = api.runtime.lastError || s.native.error;
		if (err)
			console.warn(`vitaled: host for ${origin}: ${err.message}`);
		s.native = null;
		if (!s.accepted && !s.refused)
			post(s.port, { kind: "event", event: "refused", error: err ? "no-host" : "protocol" });
		else if (s.accepted)
			post(s.port, { kind: "event", event: "host-exit" });
		endSession(s);
		port.disconnect();
	});
	s.native.postMessage({ type: "hello", id: HELLO_ID, protocol: PROTOCOL, origin });
	port.onMessage.addListener((m) => toHost(s, m));
	port.onDisconnect.addListener(() => endSession(s));
});

/* The toolbar popup asks which origins are connected. */
api.runtime.onMessage.addListener((msg, sender, reply) => {
	if (sender.id !== api.runtime.id || !String(sender.url).startsWith(api.runtime.getURL("popup.html")) ||
	    !msg || msg.ask !== "connected")
		return false;
	reply(connected());
	return false;
});
