// The demo reception page: readers and the card read live, with vitaled.js.
import { connect, text, stateText, language } from "../vitaled.js";

const LANG = language();
const T = {
	en: {
		title: "Reception", connecting: "Connecting to vitaled…", connected: "Connected to vitaled",
		readers: "Readers", card: "Card", name: "Name", "first-name": "First name",
		birth: "Birth date", nir: "NIR", rights: "Rights on", "no-reader": "No reader",
		"insert": "Insert a card", "born": "born", people: "beneficiaries",
		footer: "vitaled demo page: a practice's reception reads the Carte Vitale through the vitaled web bridge.",
	},
	fr: {
		title: "Accueil", connecting: "Connexion à vitaled…", connected: "Connecté à vitaled",
		readers: "Lecteurs", card: "Carte", name: "Nom", "first-name": "Prénom",
		birth: "Date de naissance", nir: "NIR", rights: "Droits au", "no-reader": "Aucun lecteur",
		"insert": "Insérez une carte", "born": "né(e)", people: "bénéficiaires",
		footer: "Page de démonstration de vitaled : l'accueil d'un cabinet lit la carte Vitale par le pont web de vitaled.",
	},
}[LANG];

const $ = (id) => document.getElementById(id);
const readers = new Map();	// path -> reader
let current = null;		// the card shown (its path)

function today()
{
	const d = new Date();
	const p = (n) => String(n).padStart(2, "0");
	return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

function status(msg, state)
{
	$("status").textContent = msg;
	$("status").dataset.state = state;
}

function showReaders()
{
	const ul = $("readers");
	ul.replaceChildren();
	for (const r of readers.values()) {
		const li = document.createElement("li");
		li.textContent = `${r.Name} — ${stateText(r.State, LANG)}`;
		li.dataset.path = r.path;
		li.dataset.state = r.State;
		ul.append(li);
	}
	if (!readers.size) {
		const li = document.createElement("li");
		li.textContent = T["no-reader"];
		ul.append(li);
	}
}

function clearCard()
{
	current = null;
	$("card").textContent = T.insert;
	$("card").dataset.state = "none";
	delete $("card").dataset.status;
	$("affiliation").textContent = "";
	$("beneficiaries").hidden = true;
	$("beneficiaries").tBodies[0].replaceChildren();
}

async function showCard(v, card)
{
	current = card.path;
	const el = $("card");
	el.dataset.state = card.State;
	el.dataset.status = card.Status;
	el.textContent = card.State === "done"
		? `${stateText(card.Status, LANG)} — ${card.BeneficiaryCount} ${T.people}`
		: stateText(card.State, LANG);
	if (card.State !== "done" || !card.HasData)
		return;
	const date = today();
	try {
		const [people, aff] = await Promise.all([v.beneficiaries(card, date), v.affiliation(card)]);
		if (current !== card.path)
			return;	// pulled meanwhile
		$("affiliation").textContent = `${aff.Issuer} · ${aff.Regime}/${aff.Caisse}/${aff.Centre}`;
		const body = $("beneficiaries").tBodies[0];
		body.replaceChildren();
		for (const b of people) {
			const tr = document.createElement("tr");
			const birth = b.BirthName && b.BirthName !== b.UsualName ? ` (${T.born} ${b.BirthName})` : "";
			const cells = [b.UsualName + birth, b.FirstName, b.BirthDate, b.Nir,
				`${stateText(b.AmoOpen ? "open" : "closed", LANG)} (${b.RightsDate})`];
			for (const c of cells) {
				const td = document.createElement("td");
				td.textContent = c;
				tr.append(td);
			}
			tr.lastChild.className = b.AmoOpen ? "open" : "closed";
			body.append(tr);
		}
		$("beneficiaries").hidden = false;
		el.dataset.rendered = card.path;
	} catch (e) {
		el.textContent = e.text;
		el.dataset.error = e.code;
	}
}

async function refresh(v)
{
	readers.clear();
	for (const r of await v.readers())
		readers.set(r.path, r);
	showReaders();
	const cards = await v.cards();
	if (cards.length)
		await showCard(v, cards[cards.length - 1]);	// the newest read
	else
		clearCard();
}

async function main()
{
	document.documentElement.lang = LANG;
	for (const el of document.querySelectorAll("[data-t]"))
		el.textContent = T[el.dataset.t];
	document.title = `${T.title} — Carte Vitale`;
	clearCard();
	let v;
	try {
		v = await connect();
	} catch (e) {
		status(e.text, "error");
		document.body.dataset.error = e.code;
		return;
	}
	status(T.connected, "connected");
	const onReader = (e) => { readers.set(e.detail.reader.path, e.detail.reader); showReaders(); };
	v.addEventListener("reader-added", onReader);
	v.addEventListener("reader-changed", onReader);
	v.addEventListener("reader-removed", (e) => { readers.delete(e.detail.path); showReaders(); });
	v.addEventListener("card-added", (e) => showCard(v, e.detail.card));
	v.addEventListener("card-changed", (e) => showCard(v, e.detail.card));
	v.addEventListener("card-removed", (e) => { if (e.detail.path === current) clearCard(); });
	v.addEventListener("resync", () => refresh(v));
	v.addEventListener("daemon", (e) => { if (e.detail.running) refresh(v); });
	for (const ev of ["refused", "disconnected", "host-exit"])
		v.addEventListener(ev, () => status(text(ev === "refused" ? "origin-refused" : "disconnected", LANG), "error"));
	await refresh(v);
	document.body.dataset.ready = "1";
}

main();
