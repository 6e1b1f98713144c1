// vitaled.js — the Carte Vitale for web pages, through the vitaled web bridge.
//
// No dependencies.  Same vocabulary as vitaled's D-Bus API (doc/dbus-api.md):
// readers, cards (State, Status, …), beneficiaries on a date, affiliation.
//
//   import { connect, text, stateText } from "./vitaled.js";
//   const v = await connect();
//   v.addEventListener("card-changed", (e) => { if (e.detail.card.State === "done") … });
//   const people = await v.beneficiaries(card, "2027-06-01");
//
// Errors are VitaledError: .code is one of the bridge's codes (doc/web.md),
// .text the sentence for people in the page's language (French or English,
// from navigator.language).  The extension and the host decide which
// origins may connect; this module only speaks the page's side.

const TIMEOUT_MS = 5000;
const MAX_ID = 0x7fffffff;	// the extension takes ids 1 … 2^31 - 1

// Request ids, shared by every client of this page (two connect() calls
// share the content script's one session, and its answers): from a random
// start, so that another copy of this module in the page is unlikely to
// collide either.
let lastId = Math.floor(Math.random() * (MAX_ID / 2));

function nextId()
{
	lastId = lastId >= MAX_ID ? 1 : lastId + 1;
	return lastId;
}

// Error codes (doc/web.md) for people.
const TEXTS = {
	en: {
		"no-extension": "The vitaled extension is not installed in this browser.",
		"no-host": "vitaled is not installed on this computer.",
		"origin-refused": "This site is not allowed to read the Carte Vitale on this computer.",
		"access-denied": "Your account is not allowed to read the Carte Vitale.",
		"not-verified": "This card could not be verified.",
		"in-progress": "The card is still being read.",
		"gone": "The card was removed.",
		"invalid-arguments": "Invalid request.",
		"not-supported": "Not possible for this card.",
		"busy": "vitaled is busy: try again.",
		"no-daemon": "The vitaled service is not running.",
		"hidden": "The page must be visible to read the card.",
		"too-large": "Request too large.",
		"malformed": "Invalid request.",
		"protocol": "The vitaled bridge does not speak this version.",
		"unknown-method": "Unknown request.",
		"timeout": "No answer from vitaled.",
		"disconnected": "The connection to vitaled was closed.",
		"failed": "The card could not be read.",
	},
	fr: {
		"no-extension": "L'extension vitaled n'est pas installée dans ce navigateur.",
		"no-host": "vitaled n'est pas installé sur cet ordinateur.",
		"origin-refused": "Ce site n'est pas autorisé à lire la carte Vitale sur cet ordinateur.",
		"access-denied": "Votre compte n'est pas autorisé à lire la carte Vitale.",
		"not-verified": "Cette carte n'a pas pu être vérifiée.",
		"in-progress": "Lecture de la carte en cours.",
		"gone": "La carte a été retirée.",
		"invalid-arguments": "Requête invalide.",
		"not-supported": "Impossible pour cette carte.",
		"busy": "vitaled est occupé : réessayez.",
		"no-daemon": "Le service vitaled ne fonctionne pas.",
		"hidden": "La page doit être visible pour lire la carte.",
		"too-large": "Requête trop grande.",
		"malformed": "Requête invalide.",
		"protocol": "Le pont vitaled ne parle pas cette version.",
		"unknown-method": "Requête inconnue.",
		"timeout": "vitaled ne répond pas.",
		"disconnected": "La connexion à vitaled a été fermée.",
		"failed": "La carte n'a pas pu être lue.",
	},
};

// Reader and card states, verdicts (Card1.Status) and rights for people: apart
// from the error codes, which share some names with them ("malformed").
const STATES = {
	en: {
		"idle": "No card", "card-present": "Card present", "unavailable": "Unavailable",
		"reading": "Reading…", "waiting": "Waiting for another application", "done": "Read",
		"verified": "Verified", "forged": "Forged", "untrusted": "Not trusted",
		"expired": "Expired", "not-yet-valid": "Not yet valid", "revoked": "Revoked",
		"clone-suspected": "Clone suspected", "opposed": "Opposed (lost or stolen)",
		"test-card": "Test card", "malformed": "Malformed data", "unverifiable": "Cannot be verified (old card)",
		"replayed": "Replayed", "unsupported": "Unsupported", "read-failed": "Read failed",
		"pending": "Pending",
		"open": "Rights open", "closed": "Rights closed",
	},
	fr: {
		"idle": "Pas de carte", "card-present": "Carte présente", "unavailable": "Indisponible",
		"reading": "Lecture…", "waiting": "En attente d'une autre application", "done": "Lue",
		"verified": "Vérifiée", "forged": "Falsifiée", "untrusted": "Non reconnue",
		"expired": "Expirée", "not-yet-valid": "Pas encore valide", "revoked": "Révoquée",
		"clone-suspected": "Clone suspecté", "opposed": "En opposition (perdue ou volée)",
		"test-card": "Carte de test", "malformed": "Données mal formées", "unverifiable": "Non vérifiable (ancienne carte)",
		"replayed": "Rejouée", "unsupported": "Non prise en charge", "read-failed": "Lecture échouée",
		"pending": "En attente",
		"open": "Droits ouverts", "closed": "Droits fermés",
	},
};

/** "fr" or "en", from lang (default: the browser's language). */
export function language(lang)
{
	const l = String(lang || (globalThis.navigator && navigator.language) || "en");
	return l.toLowerCase().startsWith("fr") ? "fr" : "en";
}

/** The sentence for people for an error code. */
export function text(code, lang)
{
	const t = TEXTS[language(lang)];
	return t[code] || t.failed;
}

/** The words for people for a reader's or card's State, a card's Status,
 * or "open"/"closed" rights; an unknown value as it is. */
export function stateText(value, lang)
{
	return STATES[language(lang)][value] || String(value);
}

export class VitaledError extends Error {
	constructor(code, detail)
	{
		super(text(code));
		this.name = "VitaledError";
		this.code = code;
		this.text = text(code);
		this.detail = detail || "";	// the host's message, in English, for logs
	}
}

const EVENTS = ["reader-added", "reader-removed", "reader-changed", "card-added",
	"card-changed", "card-removed", "daemon", "resync", "refused", "disconnected",
	"host-exit"];

class Client extends EventTarget {
	constructor(win)
	{
		super();
		this._win = win;
		this._pending = new Map();
		this._closed = false;
		this._onMessage = (ev) => this._receive(ev);
		win.addEventListener("message", this._onMessage);
	}

	_receive(ev)
	{
		// Only what our content script posted into this window.
		if (ev.source !== this._win || ev.origin !== this._win.location.origin)
			return;
		const m = ev.data;
		if (!m || typeof m !== "object" || m.vitaled !== 1)
			return;
		if (m.kind === "response") {
			const p = this._pending.get(m.id);
			if (!p)
				return;
			this._pending.delete(m.id);
			clearTimeout(p.timer);
			if (m.error)
				p.reject(new VitaledError(m.error, m.message));
			else
				p.resolve(m.result);
		} else if (m.kind === "event" && EVENTS.includes(m.event)) {
			if (m.event === "refused" || m.event === "disconnected" || m.event === "host-exit")
				this._fail(m.event === "refused" ? m.error : "disconnected");
			this.dispatchEvent(new CustomEvent(m.event, { detail: m }));
		}
	}

	_fail(code)
	{
		for (const p of this._pending.values()) {
			clearTimeout(p.timer);
			p.reject(new VitaledError(code));
		}
		this._pending.clear();
	}

	/** One call on the bridge; a Promise of its result. */
	call(method, params, timeout = TIMEOUT_MS)
	{
		if (this._closed)
			return Promise.reject(new VitaledError("disconnected"));
		const id = nextId();
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				this._pending.delete(id);
				reject(new VitaledError("timeout"));
			}, timeout);
			this._pending.set(id, { resolve, reject, timer });
			this._win.postMessage({ vitaled: 1, kind: "request", id, method, params },
				this._win.location.origin);
		});
	}

	readers() { return this.call("getReaders", {}); }
	cards() { return this.call("getCards", {}); }
	/** date: "YYYY-MM-DD", or "" for today (the computer's date). */
	beneficiaries(card, date = "") { return this.call("getBeneficiaries", { card: path(card), date }); }
	affiliation(card) { return this.call("getAffiliation", { card: path(card) }); }
	release(card) { return this.call("release", { card: path(card) }); }

	close()
	{
		this._closed = true;
		this._win.removeEventListener("message", this._onMessage);
		this._fail("disconnected");
	}
}

function path(card)
{
	return typeof card === "string" ? card : card && card.path;
}

/**
 * Connect to vitaled through the extension.  Resolves with a client once the
 * host accepted this page (its first answer: the list of readers, kept in
 * client.initialReaders); rejects with VitaledError "no-extension" when no
 * extension answers, "origin-refused" when this site is not on the
 * administrator's list, and so on.
 */
export async function connect(options = {})
{
	const win = options.window || globalThis.window;
	const c = new Client(win);
	try {
		c.initialReaders = await c.call("getReaders", {}, options.timeout || TIMEOUT_MS);
	} catch (e) {
		c.close();
		throw e.code === "timeout" ? new VitaledError("no-extension") : e;
	}
	return c;
}
