/*
 * vitalectl diag: a checklist of everything a card read needs, each
 * failure with a fix in plain words.  It asks the daemon what it can and
 * checks the rest directly (pcscd through libpcsclite, the trust
 * directory through lib/, the system), so it is useful when vitaled is
 * down.  Exit status: 0 when nothing failed (warnings allowed), 1 if not.
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <winscard.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

#define EXPIRY_WARN_DAYS	30
/* A clock before this is certainly wrong (this release did not exist). */
#define CLOCK_MIN		1767225600	/* 2026-01-01 */
#define CLOCK_MAX		4102444800	/* 2100-01-01 */

enum result { RESULT_PASS, RESULT_WARN, RESULT_FAIL, RESULT_INFO };

struct check {
	enum result result;
	char name[48];
	/* room for the longer words of a translation (the holder hint) */
	char detail[512];
	char fix[512];
};

struct diag {
	const struct vitalectl_opts *opts;
	struct check *checks;
	size_t n, cap;
	struct ctl_config cfg;
	DBusConnection *conn;
	bool daemon_up;
	struct ctl_value manager;
	struct ctl_value objects;
	time_t now;
};

static void add(struct diag *d, enum result result, const char *name, const char *fix,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct diag *d, enum result result, const char *name, const char *fix,
		const char *fmt, ...)
{
	struct check *c;
	va_list ap;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;

		c = realloc(d->checks, cap * sizeof(*c));
		if (!c)
			return;
		d->checks = c;
		d->cap = cap;
	}
	c = &d->checks[d->n++];
	memset(c, 0, sizeof(*c));
	c->result = result;
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->fix, sizeof(c->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

/* ---- configuration ----------------------------------------------------- */

static void check_config(struct diag *d)
{
	if (d->cfg.problem[0])
		add(d, RESULT_FAIL, _("configuration"), _("check the path and its permissions; "
				"'vitaled --check-config' validates the file"),
				_("cannot read %s"), d->cfg.problem);
	else if (d->cfg.found)
		add(d, RESULT_PASS, _("configuration"), NULL, "%s", d->cfg.path);
	else
		add(d, RESULT_INFO, _("configuration"), NULL, _("no %s: built-in defaults"),
				d->cfg.path);
}

/* ---- daemon ------------------------------------------------------------- */

static void check_daemon(struct diag *d)
{
	DBusError err;

	dbus_error_init(&err);
	d->conn = vitalectl_bus(d->opts);
	if (d->conn && ctl_get_all(d->conn, VITALED_DBUS_MANAGER_PATH,
			VITALED_DBUS_MANAGER_INTERFACE, &d->manager, &err) == 0 &&
			ctl_managed_objects(d->conn, &d->objects, &err) == 0) {
		d->daemon_up = true;
		add(d, RESULT_PASS, _("vitaled running"), NULL, d->opts->session_bus ?
				_("vitaled %s answers on the session bus") :
				_("vitaled %s answers on the system bus"),
				ctl_str(&d->manager, "Version"));
		return;
	}
	if (ctl_error_exit(&err) == VITALECTL_DENIED)
		add(d, RESULT_FAIL, _("vitaled running"),
				_("the D-Bus policy refuses this user: see the client group check below"),
				_("vitaled may be running, but the bus refused the call (%s)"),
				err.message ? err.message : _("access denied"));
	else
		add(d, RESULT_FAIL, _("vitaled running"),
				_("start it: 'systemctl start vitaled'; if it stops again, "
				"'journalctl -u vitaled -e' says why"),
				_("vitaled is not running or not reachable; the checks below are done "
				"directly"));
	dbus_error_free(&err);
}

/* ---- pcscd -------------------------------------------------------------- */

static bool pcscd_installed(char *where, size_t size)
{
	static const char *const dirs[] = { "/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin" };
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(where, size, "%s/pcscd", dirs[i]);
		if (access(where, X_OK) == 0)
			return true;
	}
	return false;
}

static bool pcscd_process(void)
{
	struct dirent *e;
	char path[300], comm[32];
	bool found = false;
	DIR *dir = opendir("/proc");
	FILE *f;

	if (!dir)
		return false;
	while (!found && (e = readdir(dir))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		found = fgets(comm, sizeof(comm), f) && !strcmp(comm, "pcscd\n");
		fclose(f);
	}
	closedir(dir);
	return found;
}

/* probe_profile()'s answer for a card that is none of ours */
#define NO_PROFILE	""

static const char *const aid_names[] = { N_("open-profile card"), N_("open-profile phone"),
	N_("legacy Vitale 2") };
static const unsigned char aids[][12] = {
	{ 10, 0xF0, 0x56, 0x49, 0x54, 0x41, 0x4C, 0x45, 0x44, 0x43, 0x31 },
	{ 10, 0xF0, 0x56, 0x49, 0x54, 0x41, 0x4C, 0x45, 0x44, 0x50, 0x31 },
	{ 11, 0xD2, 0x50, 0x00, 0x00, 0x02, 0x56, 0x49, 0x54, 0x41, 0x4C, 0x45 },
};

/* Which application the card answers: SELECT by AID, as the daemon does.
 * Only when the daemon is down (it may be reading the card otherwise). */
static const char *probe_profile(SCARDCONTEXT ctx, const char *reader)
{
	const char *found = NULL;
	SCARDHANDLE card;
	DWORD proto, len;
	unsigned char cmd[32], resp[258];
	size_t i, n;

	if (SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
			&card, &proto) != SCARD_S_SUCCESS)
		return NULL;
	if (SCardBeginTransaction(card) != SCARD_S_SUCCESS) {
		SCardDisconnect(card, SCARD_LEAVE_CARD);
		return NULL;
	}
	for (i = 0; !found && i < sizeof(aids) / sizeof(aids[0]); i++) {
		n = aids[i][0];
		memcpy(cmd, "\x00\xA4\x04\x00", 4);
		cmd[4] = (unsigned char)n;
		memcpy(cmd + 5, aids[i] + 1, n);
		n += 5;
		if (proto == SCARD_PROTOCOL_T1)
			cmd[n++] = 0x00;	/* Le: case 4 in T=1 only */
		len = sizeof(resp);
		if (SCardTransmit(card, proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0,
				cmd, (DWORD)n, NULL, resp, &len) != SCARD_S_SUCCESS || len < 2)
			continue;
		if ((resp[len - 2] == 0x90 && resp[len - 1] == 0x00) || resp[len - 2] == 0x61)
			found = aid_names[i];
	}
	SCardEndTransaction(card, SCARD_LEAVE_CARD);
	SCardDisconnect(card, SCARD_LEAVE_CARD);
	return found ? _(found) : NO_PROFILE;
}

/* The daemon's card in the reader named name, if it has one. */
static const struct ctl_value *daemon_card(struct diag *d, const char *name)
{
	const struct ctl_value **readers = NULL, **cards = NULL, *found = NULL;
	size_t nr, nc, i, k;

	nr = ctl_objects_with(&d->objects, VITALED_DBUS_READER_INTERFACE, &readers);
	nc = ctl_objects_with(&d->objects, VITALED_DBUS_CARD_INTERFACE, &cards);
	for (i = 0; i < nr; i++) {
		if (strcmp(ctl_str(ctl_object_iface(readers[i], VITALED_DBUS_READER_INTERFACE),
				"Name"), name))
			continue;
		for (k = 0; k < nc; k++)
			if (!strcmp(ctl_str(ctl_object_iface(cards[k], VITALED_DBUS_CARD_INTERFACE),
					"Reader"), readers[i]->key))
				found = ctl_object_iface(cards[k], VITALED_DBUS_CARD_INTERFACE);
	}
	free(readers);
	free(cards);
	return found;
}

/* What to do about a verdict, in a sentence. */
static const char *verdict_fix(const char *status)
{
	static const struct {
		const char *status, *fix;
	} fixes[] = {
		{ "untrusted", N_("install the issuer root and document signers in the trust directory") },
		{ "expired", N_("the card or its signer has expired: the patient needs a new card; "
			"check the system clock") },
		{ "not-yet-valid", N_("check the system clock (see the clock check)") },
		{ "revoked", N_("the card's signer was revoked by the issuer: refuse the card") },
		{ "forged", N_("the card's data does not match its signature: refuse the card") },
		{ "clone-suspected", N_("the chip failed active authentication: refuse the card") },
		{ "opposed", N_("the card is on the opposition list: refuse it") },
		{ "test-card", N_("a test or demo card: accepted only with [Trust] AllowTestCards") },
		{ "malformed", N_("the card answers but its data is damaged or not in a known format") },
		{ "read-failed", N_("reinsert the card firmly; if it keeps failing, try another reader") },
		{ "unsupported", N_("not a health card: nothing to do") },
	};
	size_t i;

	for (i = 0; i < sizeof(fixes) / sizeof(fixes[0]); i++)
		if (!strcmp(status, fixes[i].status))
			return _(fixes[i].fix);
	return _("see 'vitalectl watch' while inserting the card");
}

/* pcscd never says which client holds a card: how to find it. */
static const char *holder_hint(void)
{
	return _("vitaled reads it as soon as the other application lets go "
		"([pcsc] BusyWaitMax); pcscd does not name it: 'ss -xp | grep pcscd.comm' lists "
		"pcscd's client connections with the inode of the other end, and "
		"'ss -xp | grep INODE' names the program there (the billing software, a "
		"browser's smart card module...)");
}

static void check_card(struct diag *d, SCARDCONTEXT ctx, const char *reader,
		const unsigned char *atr, DWORD atr_len, DWORD state)
{
	char name[96], hex[3 * 33 + 1] = "";
	const struct ctl_value *card;
	const char *profile, *status;
	DWORD i;

	for (i = 0; i < atr_len && i < 33; i++)
		snprintf(hex + (i ? 3 * i - 1 : 0), 4, "%s%02X", i ? " " : "", atr[i]);
	snprintf(name, sizeof(name), _("card in %s"), reader);
	if (d->daemon_up) {
		card = daemon_card(d, reader);
		if (!card) {
			add(d, RESULT_WARN, name,
					_("wait for the read to finish, or reinsert the card"),
					_("ATR %s; vitaled has no read of it"), hex);
			return;
		}
		status = ctl_str(card, "Status");
		if (!strcmp(ctl_str(card, "State"), "waiting"))
			/* the waiting state's StatusReason, in the user's language */
			add(d, RESULT_WARN, name, holder_hint(),
					_("ATR %s; waiting: another application is using the card"),
					hex);
		else if (strcmp(ctl_str(card, "State"), "done"))
			add(d, RESULT_INFO, name, NULL, _("ATR %s; being read"), hex);
		else if (!strcmp(status, "verified") || !strcmp(status, "unverifiable"))
			add(d, RESULT_PASS, name, NULL, _("ATR %s; %s, %s"), hex,
					ctl_form_text(ctl_str(card, "FormFactor")),
					ctl_status_text(status));
		else
			add(d, !strcmp(status, "unsupported") ? RESULT_WARN : RESULT_FAIL, name,
					verdict_fix(status), _("ATR %s; %s: %s"), hex,
					ctl_status_text(status),
					ctl_str(card, "StatusReason"));
		return;
	}
	profile = probe_profile(ctx, reader);
	if (!profile && (state & SCARD_STATE_EXCLUSIVE))
		add(d, RESULT_WARN, name, holder_hint(),
				_("ATR %s; another application holds the card exclusively"), hex);
	else if (!profile)
		add(d, RESULT_WARN, name,
				_("reinsert the card; another program may hold it exclusively"),
				_("ATR %s; the card did not answer"), hex);
	else if (!profile[0])
		add(d, RESULT_WARN, name, _("not a Carte Vitale: nothing to do"),
				_("ATR %s; answers none of the known applications"), hex);
	else
		add(d, RESULT_PASS, name, NULL, _("ATR %s; %s application found"), hex, profile);
}

static void check_pcsc(struct diag *d)
{
	SCARDCONTEXT ctx;
	SCARD_READERSTATE state;
	char where[64], *names = NULL, *r;
	DWORD len = 0;
	LONG rv;
	unsigned int n = 0;
	bool daemon_pcsc = !d->daemon_up || ctl_bool(&d->manager, "PcscAvailable");

	if (pcscd_installed(where, sizeof(where)))
		add(d, RESULT_PASS, _("pcscd installed"), NULL, "%s", where);
	else
		add(d, RESULT_FAIL, _("pcscd installed"), _("install it: 'apt-get install pcscd'"),
				_("pcscd is not installed"));
	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
	if (rv != SCARD_S_SUCCESS) {
		if (rv == SCARD_E_NO_ACCESS)
			add(d, RESULT_FAIL, _("pcscd reachable"),
					_("pcscd's polkit check refused this user: "
					"run from a local session, or install vitaled's polkit rule "
					"(70-vitaled-pcscd.rules) for the service"),
					_("pcscd refused access: %s"), pcsc_stringify_error(rv));
		else if (pcscd_process())
			add(d, RESULT_FAIL, _("pcscd reachable"), _("restart it: "
					"'systemctl restart pcscd.socket pcscd'"),
					_("pcscd is running but does not answer: %s"),
					pcsc_stringify_error(rv));
		else
			add(d, RESULT_FAIL, _("pcscd reachable"), _("start it: "
					"'systemctl enable --now pcscd.socket'"),
					_("pcscd is not running: %s"), pcsc_stringify_error(rv));
		return;
	}
	add(d, RESULT_PASS, _("pcscd reachable"), NULL, _("PC/SC context established"));
	if (!daemon_pcsc)
		add(d, RESULT_FAIL, _("vitaled uses pcscd"),
				_("pcscd's polkit check probably refuses the "
				"vitaled user: install polkit/70-vitaled-pcscd.rules into "
				"/etc/polkit-1/rules.d and restart vitaled"),
				_("this user reaches pcscd, vitaled does not"));
	rv = SCardListReaders(ctx, NULL, NULL, &len);
	if (rv == SCARD_S_SUCCESS && len) {
		names = malloc(len);
		if (names)
			rv = SCardListReaders(ctx, NULL, names, &len);
	}
	if (rv != SCARD_S_SUCCESS || !names) {
		add(d, RESULT_WARN, _("card readers"),
				_("plug the reader in; if it still does not show, "
				"check 'lsusb' and that its driver (libccid) is installed"),
				_("no card reader is connected"));
		free(names);
		SCardReleaseContext(ctx);
		return;
	}
	for (r = names; *r; r += strlen(r) + 1)
		n++;
	add(d, RESULT_PASS, _("card readers"), NULL, ngettext("%u reader", "%u readers", n), n);
	for (r = names; *r; r += strlen(r) + 1) {
		memset(&state, 0, sizeof(state));
		state.szReader = r;
		state.dwCurrentState = SCARD_STATE_UNAWARE;
		if (SCardGetStatusChange(ctx, 0, &state, 1) != SCARD_S_SUCCESS)
			continue;
		if (state.dwEventState & SCARD_STATE_PRESENT)
			check_card(d, ctx, r, state.rgbAtr, state.cbAtr, state.dwEventState);
		else
			add(d, RESULT_INFO, r, NULL, _("no card"));
	}
	free(names);
	SCardReleaseContext(ctx);
}

/* ---- QR scanners ------------------------------------------------------ */

/* A keyboard-wedge scanner shared with the desktop's software types the
 * codes that are not Vitale tokens on a virtual keyboard: the vitaled
 * group needs /dev/uinput (udev rules), the module loaded (the unit). */
static void check_uinput(struct diag *d, size_t wedges_without)
{
	struct group *gr = getgrnam("vitaled");
	struct stat st;
	bool ok;

	if (strcmp(d->cfg.wedge_pass_through, "keyboard") ||
			!ctl_config_plugin_enabled(&d->cfg, "wedge") || !d->cfg.wedge_devices[0])
		return;
	if (stat("/dev/uinput", &st) < 0) {
		add(d, RESULT_WARN, _("uinput"), _("load the uinput module (modprobe uinput), then "
				"systemctl restart vitaled"),
				_("no /dev/uinput: keyboard-wedge scanners cannot pass other codes on"));
		return;
	}
	ok = gr && st.st_gid == gr->gr_gid && (st.st_mode & 0060) == 0060;
	if (!ok)
		add(d, RESULT_WARN, _("uinput"),
				_("udevadm trigger /dev/uinput (70-vitaled.rules), "
				"then systemctl restart vitaled"),
				_("/dev/uinput is not read-write for the vitaled group"));
	else if (wedges_without)
		add(d, RESULT_WARN, _("uinput"), _("systemctl restart vitaled"),
				ngettext("%zu keyboard-wedge scanner without a pass-through keyboard: "
				"other codes are swallowed (the log says why)",
				"%zu keyboard-wedge scanners without a pass-through keyboard: "
				"other codes are swallowed (the log says why)", wedges_without),
				wedges_without);
	else
		add(d, RESULT_PASS, _("uinput"), NULL,
				_("/dev/uinput is read-write for the vitaled "
				"group (pass-through keyboard)"));
}

static void check_scanners(struct diag *d)
{
	const struct ctl_value **readers = NULL;
	char list[sizeof(d->cfg.serial_devices)], *tok, *save = NULL;
	size_t n, i, found = 0, wedges_without = 0;
	glob_t g;

	if (d->daemon_up) {
		n = ctl_objects_with(&d->objects, VITALED_DBUS_READER_INTERFACE, &readers);
		for (i = 0; i < n; i++) {
			const struct ctl_value *r = ctl_object_iface(readers[i],
					VITALED_DBUS_READER_INTERFACE);
			const char *kind = ctl_str(r, "Kind");

			if (strncmp(kind, "qr-", 3) && strcmp(kind, "camera"))
				continue;
			found++;
			if (!strcmp(ctl_str(r, "State"), "unavailable"))
				add(d, RESULT_WARN, _("scanner"), _("plug it back in, or check the "
						"device permissions (udev rules)"),
						_("%s (%s) is unavailable"), ctl_str(r, "Name"),
						ctl_kind_text(kind));
			else
				add(d, RESULT_PASS, _("scanner"), NULL, _("%s (%s), %s"),
						ctl_str(r, "Name"), ctl_kind_text(kind),
						ctl_status_text(ctl_str(r, "State")));
			if (!strcmp(kind, "qr-keyboard") && !ctl_str(r, "PassThrough")[0])
				wedges_without++;
		}
		free(readers);
	}
	check_uinput(d, wedges_without);
	if (found)
		return;
	if (!d->cfg.serial_devices[0] || !ctl_config_plugin_enabled(&d->cfg, "serial")) {
		add(d, RESULT_INFO, _("scanners"), NULL, "%s", d->daemon_up ?
				_("no QR scanner or camera in use") : _("no serial scanner configured"));
		return;
	}
	snprintf(list, sizeof(list), "%s", d->cfg.serial_devices);
	for (tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (glob(tok, 0, NULL, &g) == 0) {
			for (i = 0; i < g.gl_pathc; i++) {
				bool ok = access(g.gl_pathv[i], R_OK | W_OK) == 0;

				add(d, ok ? RESULT_PASS : RESULT_WARN, _("serial scanner"),
						_("the vitaled user needs read/write access (udev rules)"),
						ok ? _("%s present") :
						_("%s present, not accessible to this user"),
						g.gl_pathv[i]);
			}
			globfree(&g);
		} else {
			add(d, RESULT_WARN, _("serial scanner"),
					_("plug the scanner in and set it to "
					"USB serial (CDC-ACM) mode"), _("no device matches %s"),
					tok);
		}
	}
}

/* ---- trust store ------------------------------------------------------ */

/* The signed bundle the daemon has installed (doc/admin.md). */
static void check_bundle(struct diag *d)
{
	char text[300], date[16];

	if (!d->daemon_up)
		return;
	if (ctl_trust_bundle_problem(&d->manager, d->now, EXPIRY_WARN_DAYS, text, sizeof(text))) {
		add(d, ctl_bool(&d->manager, "TrustStale") ? RESULT_FAIL : RESULT_WARN,
				_("trust bundle"), _("fetch the issuer's current bundle: 'systemctl "
				"start vitaled-trust-update', or 'vitalectl trust install FILE'"),
				"%s", text);
	} else if (ctl_uint(&d->manager, "TrustBundleVersion")) {
		ctl_format_date((time_t)ctl_uint(&d->manager, "TrustBundleExpires"), date);
		add(d, RESULT_PASS, _("trust bundle"), NULL, _("version %llu from %s, expires %s"),
				(unsigned long long)ctl_uint(&d->manager, "TrustBundleVersion"),
				ctl_str(&d->manager, "TrustBundleSource"), date);
	}
}

static void check_trust(struct diag *d)
{
	struct ctl_trust t;
	char date[16], fix[700], dir[600], counts[CTL_TRUST_COUNTS_SIZE];
	size_t i;
	bool bad = false;

	check_bundle(d);
	ctl_trust_dir_in_use(&d->cfg, d->daemon_up ? &d->manager : NULL, dir, sizeof(dir));
	if (ctl_trust_inspect(dir, d->now, &t) < 0) {
		add(d, RESULT_FAIL, _("trust store"), NULL, _("out of memory reading %s"), dir);
		ctl_trust_clear(&t);
		return;
	}
	snprintf(fix, sizeof(fix), _("copy the issuer root certificate(s) (*.pem) into %s, then "
			"'systemctl reload vitaled'"), t.dir);
	if (!t.dir_ok) {
		add(d, RESULT_FAIL, _("trust store"), fix,
				_("the trust directory %s cannot be read"),
				t.dir);
		ctl_trust_clear(&t);
		return;
	}
	if (!t.n_roots) {
		add(d, RESULT_FAIL, _("trust roots"), fix,
				_("no issuer root in %s: every card and token will be refused as untrusted"),
				t.dir);
		bad = true;
	}
	for (i = 0; i < t.n_problems; i++) {
		add(d, RESULT_WARN, _("trust file"),
				_("replace the file with a good copy, or remove it"),
				_("not used: %s"), t.problems[i]);
		bad = true;
	}
	for (i = 0; i < t.n_items; i++) {
		const struct ctl_trust_item *it = &t.items[i];
		const char *what = it->kind == CTL_TRUST_ROOT ? _("issuer root") :
			it->kind == CTL_TRUST_SIGNER ? _("document signer") : _("CRL");

		ctl_format_date(it->not_after, date);
		if (it->kind == CTL_TRUST_CRL && !strcmp(it->status, "stale")) {
			add(d, RESULT_FAIL, _("CRL"),
					_("fetch the issuer's current CRL into the trust "
					"directory, then 'systemctl reload vitaled'"),
					_("%s (%s) is stale since %s"), it->file, it->subject,
					date);
			bad = true;
		} else if (!strcmp(it->status, "expired")) {
			add(d, it->kind == CTL_TRUST_ROOT ? RESULT_FAIL : RESULT_WARN, what,
					_("install the issuer's current certificate; cards it signed "
					"are refused"), _("%s (%s) expired on %s"), it->subject,
					it->file, date);
			bad = true;
		} else if (!strcmp(it->status, "not-yet-valid")) {
			add(d, RESULT_WARN, what,
					_("check the system clock; a future certificate is "
					"only used from its start date"),
					_("%s (%s) is not valid yet"),
					it->subject, it->file);
			bad = true;
		} else if (!strcmp(it->status, "untrusted")) {
			add(d, RESULT_FAIL, what,
					_("add the root that issued it to the trust directory"),
					_("%s (%s) does not chain to a trusted root: %s"),
					it->subject,
					it->file, it->reason);
			bad = true;
		} else if (!strcmp(it->status, "revoked")) {
			add(d, RESULT_WARN, what,
					_("nothing to do: cards it signed are refused as revoked"),
					_("%s (%s) is revoked"), it->subject, it->file);
			bad = true;
		} else if (it->not_after && it->not_after - d->now < EXPIRY_WARN_DAYS * 86400) {
			add(d, RESULT_WARN, what,
					_("ask the issuer for its next certificate or CRL now"),
					it->kind == CTL_TRUST_CRL ? _("%s (%s) needs its next update on %s") :
					_("%s (%s) expires on %s"), it->subject, it->file, date);
			bad = true;
		}
	}
	if (t.n_roots)
		add(d, bad ? RESULT_INFO : RESULT_PASS, _("trust store"), NULL,
				"%s: %s", t.dir, ctl_trust_counts(t.n_roots, t.n_signers, t.n_crls,
				t.n_opposed, counts));
	if (d->daemon_up && (ctl_uint(&d->manager, "TrustRoots") != t.n_roots ||
			ctl_uint(&d->manager, "TrustSigners") != t.n_signers ||
			ctl_uint(&d->manager, "TrustCrls") != t.n_crls))
		add(d, RESULT_WARN, _("trust store in use"),
				_("'systemctl reload vitaled' loads the "
				"directory again (or check --config points at vitaled's configuration)"),
				_("vitaled has %llu roots, %llu signers, %llu CRLs loaded; the directory "
				"has %u, %u, %u"),
				(unsigned long long)ctl_uint(&d->manager, "TrustRoots"),
				(unsigned long long)ctl_uint(&d->manager, "TrustSigners"),
				(unsigned long long)ctl_uint(&d->manager, "TrustCrls"),
				t.n_roots, t.n_signers, t.n_crls);
	ctl_trust_clear(&t);
}

/* ---- clock --------------------------------------------------------------- */

static void check_clock(struct diag *d)
{
	char now[32];

	ctl_format_time(d->now, now);
	if (d->now < CLOCK_MIN || d->now > CLOCK_MAX)
		add(d, RESULT_FAIL, _("clock"), _("set the date and time, and enable time "
				"synchronisation: 'timedatectl set-ntp true'"),
				_("the system clock says %s, which cannot be right: card and token dates "
				"are checked against it"), now);
	else
		add(d, RESULT_PASS, _("clock"), NULL, "%s", now);
}

/* ---- D-Bus policy and the caller ---------------------------------------- */

static void check_policy(struct diag *d)
{
	static const char *const dirs[] = { DBUSPOLICYDIR, "/usr/share/dbus-1/system.d",
		"/etc/dbus-1/system.d" };
	char path[512];
	size_t i;

	if (d->opts->session_bus) {
		add(d, RESULT_INFO, _("D-Bus policy"), NULL, _("session bus: no policy needed"));
		return;
	}
	if (d->daemon_up) {
		add(d, RESULT_PASS, _("D-Bus policy"), NULL, _("vitaled owns %s on the system bus"),
				VITALED_DBUS_NAME);
		return;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.conf", dirs[i], VITALED_DBUS_NAME);
		if (access(path, R_OK) == 0) {
			add(d, RESULT_PASS, _("D-Bus policy"), NULL, "%s", path);
			return;
		}
	}
	add(d, RESULT_FAIL, _("D-Bus policy"), _("reinstall vitaled: its policy file "
			"org.vitaled.conf belongs in /usr/share/dbus-1/system.d; then "
			"'systemctl reload dbus'"), _("no %s.conf policy file: the system bus will "
			"not let vitaled own its name"), VITALED_DBUS_NAME);
}

static void check_caller(struct diag *d)
{
	const char *group = d->cfg.client_group;
	struct passwd *pw = getpwuid(getuid());
	const char *user = pw ? pw->pw_name : _("this user");
	struct group *gr;
	gid_t groups[256];
	char fix[200];
	int n, i;

	if (getuid() == 0) {
		add(d, RESULT_PASS, _("caller"), NULL, _("root may read personal data"));
		return;
	}
	gr = getgrnam(group);
	if (!gr) {
		snprintf(fix, sizeof(fix),
				_("create it: 'groupadd --system %s' (the package does)"),
				group);
		add(d, RESULT_FAIL, _("caller"), fix, _("the client group %s does not exist"),
				group);
		return;
	}
	n = getgroups(sizeof(groups) / sizeof(groups[0]), groups);
	for (i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			break;
	if (getgid() == gr->gr_gid || (n > 0 && i < n)) {
		add(d, RESULT_PASS, _("caller"), NULL, _("%s is in %s: may read personal data"),
				user,
				group);
		return;
	}
	snprintf(fix, sizeof(fix), _("'usermod -aG %s %s', then log out and back in"), group, user);
	add(d, RESULT_FAIL, _("caller"), fix, _("%s is not in the client group %s: vitalectl show "
			"and practice software run as this user will be refused"), user, group);
}

/* ---- output -------------------------------------------------------------- */

static const char *result_name(enum result r)
{
	static const char *const names[] = { "pass", "warn", "fail", "info" };

	return names[r];
}

static int report(struct diag *d)
{
	unsigned int count[4] = { 0 };
	struct json j;
	size_t i;

	for (i = 0; i < d->n; i++)
		count[d->checks[i].result]++;
	if (d->opts->json) {
		json_init(&j, stdout);
		json_object_begin(&j);
		json_key_bool(&j, "ok", !count[RESULT_FAIL]);
		json_key_bool(&j, "daemon_running", d->daemon_up);
		json_key_uint(&j, "passed", count[RESULT_PASS]);
		json_key_uint(&j, "warnings", count[RESULT_WARN]);
		json_key_uint(&j, "failed", count[RESULT_FAIL]);
		json_key(&j, "checks");
		json_array_begin(&j);
		for (i = 0; i < d->n; i++) {
			json_object_begin(&j);
			json_key_string(&j, "check", d->checks[i].name);
			json_key_string(&j, "result", result_name(d->checks[i].result));
			json_key_string(&j, "detail", d->checks[i].detail);
			if (d->checks[i].fix[0] && d->checks[i].result != RESULT_PASS)
				json_key_string(&j, "fix", d->checks[i].fix);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	} else {
		/* TRANSLATORS: 6 columns each */
		static const char *const tags[] = { N_("[ OK ]"), N_("[WARN]"), N_("[FAIL]"),
			N_("[ -- ]") };
		char passed[48], warned[48], failed[48];
		static const enum ctl_color colors[] = { CTL_GREEN, CTL_YELLOW, CTL_RED, CTL_DIM };

		for (i = 0; i < d->n; i++) {
			const struct check *c = &d->checks[i];

			printf(_("%s%s%s %s: %s\n"), ctl_color(d->opts, colors[c->result]),
					_(tags[c->result]), ctl_color(d->opts, CTL_RESET), c->name,
					c->detail);
			if (c->fix[0] && (c->result == RESULT_WARN || c->result == RESULT_FAIL))
				printf(_("       fix: %s\n"), c->fix);
		}
		snprintf(passed, sizeof(passed), ngettext("%u passed", "%u passed",
				count[RESULT_PASS]), count[RESULT_PASS]);
		snprintf(warned, sizeof(warned), ngettext("%u warning", "%u warnings",
				count[RESULT_WARN]), count[RESULT_WARN]);
		snprintf(failed, sizeof(failed), ngettext("%u failed", "%u failed",
				count[RESULT_FAIL]), count[RESULT_FAIL]);
		/* TRANSLATORS: passed, warnings, failed, each counted */
		printf(_("\n%s%s, %s, %s%s\n"),
				ctl_color(d->opts, count[RESULT_FAIL] ? CTL_RED : CTL_GREEN),
				passed, warned, failed, ctl_color(d->opts, CTL_RESET));
	}
	return count[RESULT_FAIL] ? VITALECTL_FAILED : VITALECTL_OK;
}

int cmd_diag(int argc, char **argv, const struct vitalectl_opts *opts)
{
	struct diag d = { .opts = opts };
	int ret;

	ret = ctl_no_args(argc, argv, _("Usage: vitalectl [--json] [--config FILE] diag\n\n"
			"Checks pcscd, readers and cards, QR scanners, the trust store,\n"
			"the clock, the D-Bus policy and the caller's group, and says how\n"
			"to fix each failure.  Works when vitaled is down.\n"
			"Exit status 0 when no check failed, 1 otherwise.\n"));
	if (ret >= 0)
		return ret;
	d.now = time(NULL);
	ctl_config_load(opts->config, &d.cfg);
	check_config(&d);
	check_daemon(&d);
	check_pcsc(&d);
	check_scanners(&d);
	check_trust(&d);
	check_clock(&d);
	check_policy(&d);
	check_caller(&d);
	ret = report(&d);
	if (d.conn) {
		dbus_connection_close(d.conn);
		dbus_connection_unref(d.conn);
	}
	ctl_value_clear(&d.manager);
	ctl_value_clear(&d.objects);
	free(d.checks);
	return ret;
}
