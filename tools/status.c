/*
 * vitalectl status: the daemon at a glance — up, version, pcscd, trust
 * store (with expiry warnings) and the sources it has.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

/* Expiry closer than this is worth a warning: time to order new material. */
#define EXPIRY_WARN_DAYS	30

#define MAX_WARNINGS	8

struct status {
	struct ctl_value manager;	/* Manager1 properties */
	struct ctl_value objects;	/* managed objects */
	const char *warnings[MAX_WARNINGS];
	char texts[MAX_WARNINGS][300];	/* a sentence and its advice, longer in French */
	unsigned int n_warnings;
};

static void warn(struct status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct status *st, const char *fmt, ...)
{
	va_list ap;

	if (st->n_warnings == MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(st->texts[st->n_warnings], sizeof(st->texts[0]), fmt, ap);
	va_end(ap);
	st->warnings[st->n_warnings] = st->texts[st->n_warnings];
	st->n_warnings++;
}

static void find_warnings(struct status *st, time_t now)
{
	const struct ctl_value *m = &st->manager;
	time_t expiry = (time_t)ctl_uint(m, "TrustEarliestExpiry");
	time_t crl = (time_t)ctl_uint(m, "TrustCrlNextUpdate");
	char date[16], bundle[sizeof(st->texts[0])];

	if (!ctl_bool(m, "PcscAvailable"))
		warn(st, _("pcscd is not reachable: card readers cannot be used (see 'vitalectl diag')"));
	if (!ctl_uint(m, "TrustRoots"))
		warn(st, _("no trust roots: every card and token will be refused as untrusted"));
	ctl_format_date(expiry, date);
	if (expiry && expiry < now)
		warn(st, _("a trust certificate expired on %s (see 'vitalectl trust list')"), date);
	else if (expiry && expiry - now < EXPIRY_WARN_DAYS * 86400)
		warn(st, ngettext("a trust certificate expires on %s, in %lld day",
				"a trust certificate expires on %s, in %lld days",
				(unsigned long)((expiry - now) / 86400)), date,
				(long long)((expiry - now) / 86400));
	ctl_format_date(crl, date);
	if (crl && crl < now)
		warn(st, _("a CRL is stale since %s: install a fresh one from the issuer"), date);
	if (ctl_bool(m, "TestCardsAllowed"))
		warn(st, _("test and demo cards are accepted ([Trust] AllowTestCards)"));
	if (ctl_trust_bundle_problem(m, now, EXPIRY_WARN_DAYS, bundle, sizeof(bundle)))
		warn(st, "%s", bundle);
}

static void print_json(struct status *st)
{
	const struct ctl_value **readers = NULL, **cards = NULL;
	size_t nr, nc, i;
	struct json j;

	nr = ctl_objects_with(&st->objects, VITALED_DBUS_READER_INTERFACE, &readers);
	nc = ctl_objects_with(&st->objects, VITALED_DBUS_CARD_INTERFACE, &cards);
	json_init(&j, stdout);
	json_object_begin(&j);
	json_key_bool(&j, "running", true);
	json_key_string(&j, "version", ctl_str(&st->manager, "Version"));
	json_key_bool(&j, "pcsc_available", ctl_bool(&st->manager, "PcscAvailable"));
	json_key_bool(&j, "test_cards_allowed", ctl_bool(&st->manager, "TestCardsAllowed"));
	json_key(&j, "trust");
	json_object_begin(&j);
	json_key_uint(&j, "roots", ctl_uint(&st->manager, "TrustRoots"));
	json_key_uint(&j, "signers", ctl_uint(&st->manager, "TrustSigners"));
	json_key_uint(&j, "crls", ctl_uint(&st->manager, "TrustCrls"));
	json_key_uint(&j, "opposed", ctl_uint(&st->manager, "TrustOpposed"));
	json_key_uint(&j, "earliest_expiry", ctl_uint(&st->manager, "TrustEarliestExpiry"));
	json_key_uint(&j, "crl_next_update", ctl_uint(&st->manager, "TrustCrlNextUpdate"));
	json_key_uint(&j, "bundle_version", ctl_uint(&st->manager, "TrustBundleVersion"));
	json_key_uint(&j, "bundle_expires", ctl_uint(&st->manager, "TrustBundleExpires"));
	json_key_bool(&j, "stale", ctl_bool(&st->manager, "TrustStale"));
	json_object_end(&j);
	json_key(&j, "sources");
	json_array_begin(&j);
	for (i = 0; i < nr; i++) {
		const struct ctl_value *r = ctl_object_iface(readers[i],
				VITALED_DBUS_READER_INTERFACE);

		json_object_begin(&j);
		json_key_string(&j, "path", readers[i]->key);
		json_key_string(&j, "id", ctl_str(r, "Id"));
		json_key_string(&j, "kind", ctl_str(r, "Kind"));
		json_key_string(&j, "state", ctl_str(r, "State"));
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key_uint(&j, "cards", nc);
	json_key(&j, "warnings");
	json_array_begin(&j);
	for (i = 0; i < st->n_warnings; i++)
		json_string(&j, st->warnings[i]);
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
	free(readers);
	free(cards);
}

static void print_human(struct status *st, const struct vitalectl_opts *opts)
{
	const struct ctl_value *m = &st->manager;
	const struct ctl_value **readers = NULL, **cards = NULL;
	char expiry[16], crl[16], counts[CTL_TRUST_COUNTS_SIZE];
	size_t nr, nc, i;
	bool pcsc = ctl_bool(m, "PcscAvailable");

	nr = ctl_objects_with(&st->objects, VITALED_DBUS_READER_INTERFACE, &readers);
	nc = ctl_objects_with(&st->objects, VITALED_DBUS_CARD_INTERFACE, &cards);
	ctl_format_date((time_t)ctl_uint(m, "TrustEarliestExpiry"), expiry);
	ctl_format_date((time_t)ctl_uint(m, "TrustCrlNextUpdate"), crl);
	printf(_("%svitaled %s is running%s\n"), ctl_color(opts, CTL_BOLD), ctl_str(m, "Version"),
			ctl_color(opts, CTL_RESET));
	printf(_("  pcscd:        %s%s%s\n"), ctl_color(opts, pcsc ? CTL_GREEN : CTL_RED),
			pcsc ? _("reachable") : _("not reachable"), ctl_color(opts, CTL_RESET));
	printf(_("  trust store:  %s\n"), ctl_trust_counts(ctl_uint(m, "TrustRoots"),
			ctl_uint(m, "TrustSigners"), ctl_uint(m, "TrustCrls"),
			ctl_uint(m, "TrustOpposed"), counts));
	printf(_("                earliest expiry %s, CRL next update %s\n"), expiry, crl);
	if (ctl_uint(m, "TrustBundleVersion")) {
		ctl_format_date((time_t)ctl_uint(m, "TrustBundleExpires"), expiry);
		printf(_("                from trust bundle version %llu (%s), expires %s\n"),
				(unsigned long long)ctl_uint(m, "TrustBundleVersion"),
				ctl_str(m, "TrustBundleSource"), expiry);
	}
	printf(_("  test cards:   %s\n"), ctl_bool(m, "TestCardsAllowed") ?
			_("accepted") : _("refused"));
	printf(_("  sources:      %zu\n"), nr);
	for (i = 0; i < nr; i++) {
		const struct ctl_value *r = ctl_object_iface(readers[i],
				VITALED_DBUS_READER_INTERFACE);

		printf("    ");
		ctl_print_padded(ctl_kind_text(ctl_str(r, "Kind")), 12);
		ctl_print_padded(ctl_status_text(ctl_str(r, "State")), 13);
		printf("%s\n", ctl_str(r, "Name"));
	}
	printf(_("  cards:        %zu\n"), nc);
	for (i = 0; i < st->n_warnings; i++)
		printf(_("%swarning:%s %s\n"), ctl_color(opts, CTL_YELLOW),
				ctl_color(opts, CTL_RESET), st->warnings[i]);
	free(readers);
	free(cards);
}

int cmd_status(int argc, char **argv, const struct vitalectl_opts *opts)
{
	struct status st;
	DBusConnection *conn;
	DBusError err;
	int ret;

	ret = ctl_no_args(argc, argv, _("Usage: vitalectl [--json] status\n\n"
			"Whether vitaled runs, its version, pcscd, the trust store, test-card\n"
			"policy, sources and cards held, with warnings.\n"
			"Exit status 3 when vitaled is not reachable.\n"));
	if (ret >= 0)
		return ret;
	memset(&st, 0, sizeof(st));
	dbus_error_init(&err);
	conn = vitalectl_bus(opts);
	if (!conn) {
		ret = VITALECTL_NO_DAEMON;
		dbus_set_error_const(&err, DBUS_ERROR_NO_SERVER, _("no bus"));
	} else if (ctl_get_all(conn, VITALED_DBUS_MANAGER_PATH, VITALED_DBUS_MANAGER_INTERFACE,
			&st.manager, &err) < 0 ||
			ctl_managed_objects(conn, &st.objects, &err) < 0) {
		ret = ctl_error_exit(&err);
	} else {
		ret = VITALECTL_OK;
	}
	if (conn) {
		dbus_connection_close(conn);
		dbus_connection_unref(conn);
	}
	if (ret == VITALECTL_OK) {
		find_warnings(&st, time(NULL));
		if (opts->json)
			print_json(&st);
		else
			print_human(&st, opts);
	} else if (opts->json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j);
		json_key_bool(&j, "running", false);
		json_key_string(&j, "error", err.name);
		json_key_string(&j, "message", err.message);
		json_object_end(&j);
		json_finish(&j);
	} else if (ret == VITALECTL_NO_DAEMON) {
		printf(_("vitaled is not running or not reachable (%s)\n"),
				err.message ? err.message : _("no reply"));
	} else {
		ctl_error_report("status", &err);
	}
	dbus_error_free(&err);
	ctl_value_clear(&st.manager);
	ctl_value_clear(&st.objects);
	return ret;
}
