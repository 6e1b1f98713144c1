/* The toolbar button: which origins use vitaled through this browser now. */
"use strict";

(async () => {
	const api = globalThis.browser || globalThis.chrome;
	const fr = (navigator.language || "").toLowerCase().startsWith("fr");
	document.documentElement.lang = fr ? "fr" : "en";
	document.getElementById("title").textContent =
		fr ? "Sites connectés à la carte Vitale" : "Sites connected to the Carte Vitale";
	const list = await api.runtime.sendMessage({ ask: "connected" }) || [];
	const ul = document.getElementById("origins");
	for (const c of list) {
		const li = document.createElement("li");
		li.textContent = c.origin;
		li.dataset.tab = String(c.tab);
		ul.append(li);
	}
	const none = document.getElementById("none");
	none.textContent = fr ? "Aucun." : "None.";
	none.hidden = list.length > 0;
	document.body.dataset.ready = "1";
})();
