/*
 * vitalectl show [CARD]: the beneficiaries of a verified read and their
 * rights on a date — personal data, so only for authorised callers (the
 * daemon decides; a refusal exits 4 with what to do about it).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

/* Longer than any read timeout ([Chips] ReadTimeout is at most 60 s). */
#define SHOW_WAIT_S	70

/* "ID", "cards/ID" or the full object path (ID: 32 hex digits). */
static int card_path(const char *arg, char *buf, size_t size)
{
	const char *id = arg;

	if (!strncmp(arg, VITALED_DBUS_CARD_PATH_PREFIX, strlen(VITALED_DBUS_CARD_PATH_PREFIX)))
		id = arg + strlen(VITALED_DBUS_CARD_PATH_PREFIX);
	else if (!strncmp(arg, "cards/", 6))
		id = arg + 6;
	if (strlen(id) != VITALED_DBUS_CARD_ID_LEN ||
			strspn(id, "0123456789abcdef") != VITALED_DBUS_CARD_ID_LEN)
		return -1;
	snprintf(buf, size, "%s%s", VITALED_DBUS_CARD_PATH_PREFIX, id);
	return 0;
}

/*
 * Properties of the card once its read is done.  A card still being read
 * is waited for — the verdict is at most a read timeout away — with a
 * progress line when stderr is a terminal.  Woken by the card's signals.
 */
static int wait_read(DBusConnection *conn, const char *path, struct ctl_value *props,
		DBusError *err)
{
	static const char frames[] = "|/-\\";
	bool tty = isatty(STDERR_FILENO);
	struct timespec start, now;
	unsigned int spin = 0;
	DBusMessage *msg;
	char rule[256];
	double waited;

	snprintf(rule, sizeof(rule), "type='signal',sender='%s',interface='%s',"
			"member='PropertiesChanged',path='%s'", VITALED_DBUS_NAME,
			DBUS_INTERFACE_PROPERTIES, path);
	dbus_bus_add_match(conn, rule, err);
	if (dbus_error_is_set(err))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		ctl_value_clear(props);
		if (ctl_get_all(conn, path, VITALED_DBUS_CARD_INTERFACE, props, err) < 0)
			break;
		if (!strcmp(ctl_str(props, "State"), "done"))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (double)(now.tv_sec - start.tv_sec) +
			(double)(now.tv_nsec - start.tv_nsec) / 1e9;
		if (waited > SHOW_WAIT_S) {
			dbus_set_error_const(err, DBUS_ERROR_TIMEOUT,
					_("the card is still being read: try again"));
			break;
		}
		if (tty) {
			fputs("\r\033[K", stderr);
			fprintf(stderr, _("%c waiting for the card to be read… %.1f s"),
					frames[spin++ % 4], waited);
		}
		dbus_connection_read_write(conn, tty ? 100 : 1000);
		while ((msg = dbus_connection_pop_message(conn)))
			dbus_message_unref(msg);
	}
	if (tty && spin)
		fputs("\r\033[K", stderr);
	return dbus_error_is_set(err) ? -1 : 0;
}

static int fetch(DBusConnection *conn, const char *path, const char *method, const char *date,
		struct ctl_value *out, DBusError *err)
{
	DBusMessage *msg, *reply;
	DBusMessageIter it;
	int ret;

	memset(out, 0, sizeof(*out));
	msg = dbus_message_new_method_call(VITALED_DBUS_NAME, path, VITALED_DBUS_CARD_INTERFACE,
			method);
	if (msg && date && !dbus_message_append_args(msg, DBUS_TYPE_STRING, &date,
			DBUS_TYPE_INVALID)) {
		dbus_message_unref(msg);
		msg = NULL;
	}
	reply = ctl_call(conn, msg, err);
	if (!reply)
		return -1;
	ret = dbus_message_iter_init(reply, &it) ? ctl_value_read(&it, out) : -1;
	dbus_message_unref(reply);
	if (ret < 0)
		dbus_set_error_const(err, DBUS_ERROR_FAILED, _("cannot decode vitaled's reply"));
	return ret;
}

static const char *qualite_text(const char *q)
{
	/* TRANSLATORS: the beneficiary's "qualité" on the card (7 columns) */
	if (!strcmp(q, "00"))
		return _("insured");
	if (!strcmp(q, "02"))
		return _("spouse");
	if (!strcmp(q, "06"))
		return _("child");
	return q;
}

/* "1 80 03 75 056 123 10": the way it is printed on the card. */
static void nir_text(const char *nir, char buf[24])
{
	if (strlen(nir) != 15) {
		snprintf(buf, 24, "%s", nir[0] ? nir : "-");
		return;
	}
	snprintf(buf, 24, "%.1s %.2s %.2s %.2s %.3s %.3s %.2s", nir, nir + 1, nir + 3, nir + 5,
			nir + 7, nir + 10, nir + 13);
}

static void print_period(const struct ctl_value *p)
{
	const char *end = ctl_str(p, "End");
	char from[16], to[16];

	printf(_("%s to %s"), ctl_date_text(ctl_str(p, "Start"), from),
			end[0] ? ctl_date_text(end, to) : _("(open)"));
}

static void print_beneficiary(const struct ctl_value *b, unsigned int index,
		const struct vitalectl_opts *opts)
{
	const struct ctl_value *cov = ctl_value_get(b, "Coverages");
	const struct ctl_value *amc = ctl_value_get(b, "Amc");
	char name[200], nir[24], amo[80], date[16];
	const char *until = ctl_str(b, "AmoUntil");
	bool open = ctl_bool(b, "AmoOpen");
	size_t i;

	if (ctl_str(b, "BirthName")[0] && strcmp(ctl_str(b, "BirthName"), ctl_str(b, "UsualName")))
		snprintf(name, sizeof(name), _("%s %s (born %s)"), ctl_str(b, "UsualName"),
				ctl_str(b, "FirstName"), ctl_str(b, "BirthName"));
	else
		snprintf(name, sizeof(name), "%s %s", ctl_str(b, "UsualName"),
				ctl_str(b, "FirstName"));
	nir_text(ctl_str(b, "Nir"), nir);
	if (open && until[0])
		snprintf(amo, sizeof(amo), _("open until %s"), ctl_date_text(until, date));
	else
		snprintf(amo, sizeof(amo), "%s", open ? _("open") : _("closed"));
	printf("%2u  ", index);
	ctl_print_padded(name, 30);
	ctl_print_padded(ctl_date_text(ctl_str(b, "BirthDate"), date), 10);
	ctl_print_padded(qualite_text(ctl_str(b, "Qualite")), 7);
	ctl_print_padded(nir, 21);
	printf("%s", ctl_color(opts, open ? CTL_GREEN : CTL_RED));
	if (ctl_bool(b, "C2S")) {
		ctl_print_padded(amo, 21);
		printf("%sC2S\n", ctl_color(opts, CTL_RESET));
	} else {
		printf("%s%s\n", amo, ctl_color(opts, CTL_RESET));
	}
	for (i = 0; cov && i < cov->n; i++) {
		const struct ctl_value *c = &cov->items[i];

		if (!ctl_bool(c, "InForce"))
			continue;
		printf(_("      coverage: exemption %s, situation %s, "), ctl_str(c, "Exemption"),
				ctl_str(c, "Situation"));
		print_period(c);
		putchar('\n');
	}
	for (i = 0; amc && i < amc->n; i++) {
		const struct ctl_value *a = &amc->items[i];

		printf(_("      AMC %s member %s, guarantee %s, routing %s, "), ctl_str(a,
				"Organisation"),
				ctl_str(a, "Member"), ctl_str(a, "Guarantee"), ctl_str(a, "Routing"));
		print_period(a);
		printf("%s\n", ctl_bool(a, "InForce") ? "" : _(" (not in force)"));
	}
}

static void print_human(const char *path, const struct ctl_value *card,
		const struct ctl_value *aff, const struct ctl_value *bens,
		const struct vitalectl_opts *opts)
{
	const char *status = ctl_str(card, "Status");
	const char *marker = ctl_str(card, "Marker");
	static const struct ctl_column columns[] = { { N_("NAME"), 30 }, { N_("BIRTH"), 10 },
		{ N_("QUALITY"), 7 }, { N_("NIR"), 21 }, { N_("AMO"), 21 }, { N_("C2S"), 0 } };
	const char *date = bens->n ? ctl_str(&bens->items[0], "RightsDate") : "";
	const char *until = ctl_str(aff, "ValidUntil");
	char from[16], to[16], on[16];
	size_t i;

	printf(_("%sCard %s%s: %s, %s%s%s"), ctl_color(opts, CTL_BOLD), path,
			ctl_color(opts, CTL_RESET), ctl_form_text(ctl_str(card, "FormFactor")),
			ctl_color(opts, ctl_status_color(status)), ctl_status_text(status),
			ctl_color(opts, CTL_RESET));
	if (marker[0] && strcmp(marker, "production"))
		printf(_(", %s card"), ctl_marker_text(marker));
	printf(_("\n  issuer %s, serial %s, valid %s to %s\n"), ctl_str(aff, "Issuer"),
			ctl_str(aff, "CardSerial"), ctl_date_text(ctl_str(aff, "ValidFrom"), from),
			until[0] ? ctl_date_text(until, to) : _("(open)"));
	printf(_("  régime %s, caisse %s, centre %s, code gestion %s\n"), ctl_str(aff, "Regime"),
			ctl_str(aff, "Caisse"), ctl_str(aff, "Centre"), ctl_str(aff, "CodeGestion"));
	printf(_("\nRights on %s:\n"), ctl_date_text(date, on));
	ctl_print_header(opts, " #  ", columns, sizeof(columns) / sizeof(columns[0]));
	for (i = 0; i < bens->n; i++)
		print_beneficiary(&bens->items[i], (unsigned int)i + 1, opts);
}

static void print_json(const char *path, const struct ctl_value *card,
		const struct ctl_value *aff, const struct ctl_value *bens)
{
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j);
	json_key_string(&j, "card", path);
	json_key_string(&j, "form", ctl_str(card, "FormFactor"));
	json_key_string(&j, "status", ctl_str(card, "Status"));
	json_key_string(&j, "reason", ctl_str(card, "StatusReason"));
	json_key_string(&j, "marker", ctl_str(card, "Marker"));
	json_key_string(&j, "reader_id", ctl_str(card, "ReaderId"));
	json_key(&j, "affiliation");
	ctl_value_json(&j, aff);
	json_key(&j, "beneficiaries");
	ctl_value_json(&j, bens);
	json_object_end(&j);
	json_finish(&j);
}

static void usage(FILE *out)
{
	fprintf(out, _("Usage: vitalectl [--json] show [CARD] [--date YYYY-MM-DD]\n\n"
			"Shows the beneficiaries and their rights for CARD (its id, as in\n"
			"/org/vitaled/cards/ID, or that path), by default the newest card; a card\n"
			"still being read is waited for.\n"
			"Rights are evaluated on --date (default: today).  Needs root or membership\n"
			"of the vitaled client group: exit status 4 otherwise.\n"));
}

int cmd_show(int argc, char **argv, const struct vitalectl_opts *opts)
{
	static const struct option longopts[] = {
		{ "date", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_value objects = { 0 }, aff = { 0 }, bens = { 0 }, props = { 0 };
	const struct ctl_value **cards = NULL, *card = NULL;
	const char *date = "";
	char path[128];
	DBusConnection *conn;
	DBusError err;
	size_t n, i;
	int opt, ret;

	optind = 0;	/* 0: glibc re-reads the option string (ordering too) */
	while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			date = optarg;
			break;
		case 'h':
			usage(stdout);
			return VITALECTL_OK;
		default:
			usage(stderr);
			return VITALECTL_USAGE;
		}
	}
	path[0] = '\0';
	if (optind < argc && card_path(argv[optind++], path, sizeof(path)) < 0) {
		fprintf(stderr, _("vitalectl show: '%s' is not a card (give ID or %sID)\n"),
				argv[optind - 1], VITALED_DBUS_CARD_PATH_PREFIX);
		return VITALECTL_USAGE;
	}
	if (optind < argc) {
		usage(stderr);
		return VITALECTL_USAGE;
	}
	conn = vitalectl_bus(opts);
	if (!conn)
		return VITALECTL_NO_DAEMON;
	dbus_error_init(&err);
	if (ctl_managed_objects(conn, &objects, &err) < 0) {
		ret = ctl_error_report("show", &err);
		goto out;
	}
	n = ctl_objects_with(&objects, VITALED_DBUS_CARD_INTERFACE, &cards);
	if (path[0]) {
		for (i = 0; i < n; i++)
			if (!strcmp(cards[i]->key, path))
				card = cards[i];
	} else if (n) {
		card = cards[n - 1];	/* the newest: the card at the desk */
	}
	if (!card) {
		if (path[0])
			fprintf(stderr, _("vitalectl show: no card %s (it was removed, released or "
					"never read; see 'vitalectl readers')\n"), path);
		else
			fprintf(stderr, _("vitalectl show: no card has been read\n"));
		ret = VITALECTL_FAILED;
		goto out;
	}
	snprintf(path, sizeof(path), "%s", card->key);
	if (wait_read(conn, path, &props, &err) < 0) {
		if (dbus_error_has_name(&err, DBUS_ERROR_UNKNOWN_OBJECT) ||
				dbus_error_has_name(&err, DBUS_ERROR_UNKNOWN_METHOD))
			fprintf(stderr, _("vitalectl show: card %s went away during its read\n"),
					path);
		else
			ctl_error_report("show", &err);
		ret = ctl_error_exit(&err);
		goto out;
	}
	if (!ctl_bool(&props, "HasData")) {
		/* the reason is the daemon's, in English (doc/dbus-api.md) */
		fprintf(stderr, _("vitalectl show: card %s was not verified (%s): it has no "
				"data to show\n  vitaled's reason: %s\n"), path,
				ctl_status_text(ctl_str(&props, "Status")),
				ctl_str(&props, "StatusReason"));
		ret = VITALECTL_FAILED;
		goto out;
	}
	if (fetch(conn, path, "GetAffiliation", NULL, &aff, &err) < 0 ||
			fetch(conn, path, "GetBeneficiaries", date, &bens, &err) < 0) {
		ret = ctl_error_report("show", &err);
		goto out;
	}
	if (opts->json)
		print_json(path, &props, &aff, &bens);
	else
		print_human(path, &props, &aff, &bens, opts);
	ret = VITALECTL_OK;
out:
	dbus_error_free(&err);
	free(cards);
	ctl_value_clear(&props);
	ctl_value_clear(&aff);
	ctl_value_clear(&bens);
	ctl_value_clear(&objects);
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	return ret;
}
