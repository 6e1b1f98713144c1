/*
 * vitalectl trust list: the trust directory as the daemon loads it
 * (lib/ trust store), item by item with validity — and the same
 * inspection for `vitalectl diag`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <vitaled/dbus.h>
#include "vitaled-core.h"
/* vd_trust_load_visit() and vd_trust_check_signer(): the engine's own
 * loader and chain check, so what is listed here is what the daemon loads
 * and a signer listed as valid is one the daemon accepts. */
#include "internal.h"
#include "vitalectl.h"

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* The CN, or the one-line name when there is none. */
static void name_text(const X509_NAME *name, char *buf, size_t size)
{
	/* the text is passed on as is: the JSON writer replaces invalid UTF-8 */
	if (!name || X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)size) < 0)
		X509_NAME_oneline(name, buf, (int)size);
}

/* What the trust loader tells us while it loads (vd_trust_load_visit). */
struct inspect {
	struct ctl_trust *t;
	size_t cap;
	X509 **signers;		/* per item: the signer to check once loaded, or NULL */
	time_t now;
	int err;
};

static struct ctl_trust_item *add_item(struct inspect *in, const char *name)
{
	struct ctl_trust *t = in->t;
	struct ctl_trust_item *items;
	X509 **signers;

	if (in->err)
		return NULL;
	if (t->n_items == in->cap) {
		size_t ncap = in->cap ? in->cap * 2 : 16;

		items = realloc(t->items, ncap * sizeof(*items));
		if (items)
			t->items = items;
		signers = items ? realloc(in->signers, ncap * sizeof(*signers)) : NULL;
		if (!signers) {
			in->err = -ENOMEM;
			return NULL;
		}
		in->signers = signers;
		in->cap = ncap;
	}
	in->signers[t->n_items] = NULL;
	memset(&t->items[t->n_items], 0, sizeof(t->items[0]));
	snprintf(t->items[t->n_items].file, sizeof(t->items[0].file), "%s", name);
	return &t->items[t->n_items++];
}

static void add_problem(const char *path, const char *why, void *data)
{
	struct ctl_trust *t = ((struct inspect *)data)->t;
	const char *base = strrchr(path, '/');
	char **p;
	size_t len;

	p = realloc(t->problems, (t->n_problems + 1) * sizeof(*p));
	if (!p)
		return;
	t->problems = p;
	len = strlen(base ? base + 1 : path) + strlen(why) + 3;
	p[t->n_problems] = malloc(len);
	if (p[t->n_problems])
		snprintf(p[t->n_problems++], len, "%s: %s", base ? base + 1 : path, why);
}

static void cert_validity(struct ctl_trust_item *it, time_t now)
{
	if (it->not_before && now < it->not_before)
		strcpy(it->status, "not-yet-valid");
	else if (it->not_after && now > it->not_after)
		strcpy(it->status, "expired");
	else
		strcpy(it->status, "valid");
}

static void visit_cert(const char *name, X509 *cert, bool root, void *data)
{
	struct inspect *in = data;
	struct ctl_trust_item *it = add_item(in, name);

	if (!it)
		return;
	it->kind = root ? CTL_TRUST_ROOT : CTL_TRUST_SIGNER;
	name_text(X509_get_subject_name(cert), it->subject, sizeof(it->subject));
	it->not_before = asn1_time(X509_get0_notBefore(cert));
	it->not_after = asn1_time(X509_get0_notAfter(cert));
	cert_validity(it, in->now);
	/* a signer's chain can only be checked once the whole store is in */
	if (!root && X509_up_ref(cert))
		in->signers[in->t->n_items - 1] = cert;
}

static void visit_crl(const char *name, X509_CRL *crl, void *data)
{
	struct inspect *in = data;
	struct ctl_trust_item *it = add_item(in, name);
	STACK_OF(X509_REVOKED) *revoked;

	if (!it)
		return;
	it->kind = CTL_TRUST_CRL;
	name_text(X509_CRL_get_issuer(crl), it->subject, sizeof(it->subject));
	it->not_before = asn1_time(X509_CRL_get0_lastUpdate(crl));
	it->not_after = asn1_time(X509_CRL_get0_nextUpdate(crl));
	revoked = X509_CRL_get_REVOKED(crl);
	it->revoked = revoked ? (unsigned int)sk_X509_REVOKED_num(revoked) : 0;
	if (it->not_after && in->now > it->not_after) {
		strcpy(it->status, "stale");
		snprintf(it->reason, sizeof(it->reason), "%s",
				_("past its next update: get a fresh CRL from the issuer"));
	} else if (it->not_before && in->now < it->not_before) {
		strcpy(it->status, "not-yet-valid");
	} else {
		strcpy(it->status, "current");
	}
}

static void check_signer(struct vd_trust *trust, X509 *cert, time_t now,
		struct ctl_trust_item *it)
{
	struct vd_verdict why;

	if (vd_trust_check_signer(trust, cert, now, &why) == 0) {
		strcpy(it->status, "valid");
	} else {
		snprintf(it->status, sizeof(it->status), "%s", vd_status_name(why.status));
		snprintf(it->reason, sizeof(it->reason), "%s", why.reason);
	}
}

/* The store exactly as the daemon loads it: the items are what the loader
 * took (in its order), the problems what it refused. */
int ctl_trust_inspect(const char *dir, time_t now, struct ctl_trust *t)
{
	static const struct vd_trust_visitor visitor = { visit_cert, visit_crl };
	struct inspect in = { .t = t, .now = now };
	struct vd_trust *trust = NULL;
	struct vd_trust_info info;
	size_t i;
	int dfd;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t->dir_ok = dfd >= 0;
	if (dfd >= 0)
		close(dfd);
	if (vd_trust_load_visit(dir, add_problem, &visitor, &in, &trust) < 0 || !trust)
		in.err = -ENOMEM;
	for (i = 0; i < t->n_items; i++) {
		if (!in.signers[i])
			continue;
		if (trust)
			check_signer(trust, in.signers[i], now, &t->items[i]);
		X509_free(in.signers[i]);
	}
	free(in.signers);
	if (trust) {
		vd_trust_get_info(trust, &info);
		t->n_roots = info.n_roots;
		t->n_signers = info.n_signers;
		t->n_crls = info.n_crls;
		t->n_opposed = info.n_opposed;
		vd_trust_unref(trust);
	}
	return in.err;
}

void ctl_trust_clear(struct ctl_trust *t)
{
	size_t i;

	for (i = 0; i < t->n_problems; i++)
		free(t->problems[i]);
	free(t->problems);
	free(t->items);
	memset(t, 0, sizeof(*t));
}

static const char *kind_name(enum ctl_trust_kind kind)
{
	return kind == CTL_TRUST_ROOT ? "root" : kind == CTL_TRUST_SIGNER ? "signer" : "crl";
}

/* The kind in the user's language (--json has kind_name's). */
static const char *kind_text(enum ctl_trust_kind kind)
{
	/* TRANSLATORS: a column of 7 characters: issuer root, document signer, CRL */
	return kind == CTL_TRUST_ROOT ? _("root") : kind == CTL_TRUST_SIGNER ? _("signer") :
		_("crl");
}

/* The daemon's installed bundle, when it answers (manager stays empty if not). */
static void bundle_of_daemon(const struct vitalectl_opts *opts, struct ctl_value *manager)
{
	DBusConnection *conn = vitalectl_bus(opts);
	DBusError err;

	if (!conn)
		return;
	dbus_error_init(&err);
	if (ctl_get_all(conn, VITALED_DBUS_MANAGER_PATH, VITALED_DBUS_MANAGER_INTERFACE,
				manager, &err) < 0)
		fprintf(stderr, _("vitalectl: vitaled does not answer (%s): its installed "
				"trust bundle is not shown\n"), err.message ? err.message :
				_("no reply"));
	dbus_error_free(&err);
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
}

static void print_bundle(const struct ctl_value *m)
{
	char issued[16], expires[16];

	if (!m->n)
		return;
	if (!ctl_uint(m, "TrustBundleVersion")) {
		printf(_("No trust bundle installed: vitaled uses the trust directory as "
				"copied.\n\n"));
		return;
	}
	ctl_format_date((time_t)ctl_uint(m, "TrustBundleIssued"), issued);
	ctl_format_date((time_t)ctl_uint(m, "TrustBundleExpires"), expires);
	/* TRANSLATORS: the last %s is empty or " (stale)" */
	printf(_("Trust bundle version %llu, issued %s, expires %s, from %s%s\n\n"),
			(unsigned long long)ctl_uint(m, "TrustBundleVersion"), issued, expires,
			ctl_str(m, "TrustBundleSource"),
			ctl_bool(m, "TrustStale") ? _(" (stale)") : "");
}

static void print_json(const struct ctl_trust *t, const struct ctl_value *m)
{
	struct json j;
	size_t i;

	json_init(&j, stdout);
	json_object_begin(&j);
	if (m->n) {
		json_key(&j, "bundle");
		json_object_begin(&j);
		json_key_uint(&j, "version", ctl_uint(m, "TrustBundleVersion"));
		json_key_uint(&j, "issued", ctl_uint(m, "TrustBundleIssued"));
		json_key_uint(&j, "expires", ctl_uint(m, "TrustBundleExpires"));
		json_key_string(&j, "source", ctl_str(m, "TrustBundleSource"));
		json_key_bool(&j, "stale", ctl_bool(m, "TrustStale"));
		json_key_string(&j, "last_install_error", ctl_str(m, "TrustLastInstallError"));
		json_object_end(&j);
	}
	json_key_string(&j, "directory", t->dir);
	json_key_bool(&j, "readable", t->dir_ok);
	json_key_uint(&j, "roots", t->n_roots);
	json_key_uint(&j, "signers", t->n_signers);
	json_key_uint(&j, "crls", t->n_crls);
	json_key_uint(&j, "opposed", t->n_opposed);
	json_key(&j, "items");
	json_array_begin(&j);
	for (i = 0; i < t->n_items; i++) {
		const struct ctl_trust_item *it = &t->items[i];

		json_object_begin(&j);
		json_key_string(&j, "kind", kind_name(it->kind));
		json_key_string(&j, "file", it->file);
		json_key_string(&j, it->kind == CTL_TRUST_CRL ? "issuer" : "subject", it->subject);
		json_key_int(&j, it->kind == CTL_TRUST_CRL ? "last_update" : "not_before",
				it->not_before);
		json_key_int(&j, it->kind == CTL_TRUST_CRL ? "next_update" : "not_after",
				it->not_after);
		json_key_string(&j, "status", it->status);
		if (it->reason[0])
			json_key_string(&j, "reason", it->reason);
		if (it->kind == CTL_TRUST_CRL)
			json_key_uint(&j, "revoked", it->revoked);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "problems");
	json_array_begin(&j);
	for (i = 0; i < t->n_problems; i++)
		json_string(&j, t->problems[i]);
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

static void print_human(const struct ctl_trust *t, const struct vitalectl_opts *opts)
{
	char from[16], until[16];
	size_t i;

	static const struct ctl_column columns[] = { { N_("KIND"), 7 }, { N_("STATUS"), 14 },
		{ N_("FROM"), 11 }, { N_("UNTIL"), 11 }, { N_("SUBJECT / ISSUER"), 34 },
		{ N_("FILE"), 0 } };
	char counts[CTL_TRUST_COUNTS_SIZE];

	printf(_("Trust directory %s: %s\n"), t->dir, ctl_trust_counts(t->n_roots, t->n_signers,
			t->n_crls, t->n_opposed, counts));
	if (t->n_items) {
		putchar('\n');
		ctl_print_header(opts, "", columns, sizeof(columns) / sizeof(columns[0]));
		for (i = 0; i < t->n_items; i++) {
			const struct ctl_trust_item *it = &t->items[i];
			bool good = !strcmp(it->status, "valid") || !strcmp(it->status, "current");

			ctl_format_date(it->not_before, from);
			ctl_format_date(it->not_after, until);
			ctl_print_padded(kind_text(it->kind), 7);
			fputs(ctl_color(opts, good ? CTL_GREEN : CTL_RED), stdout);
			ctl_print_padded(ctl_status_text(it->status), 14);
			fputs(ctl_color(opts, CTL_RESET), stdout);
			ctl_print_padded(from, 11);
			ctl_print_padded(until, 11);
			ctl_print_padded(it->subject, 34);
			fputs(it->file, stdout);
			if (it->kind == CTL_TRUST_CRL)
				printf(ngettext(" (%u revoked)", " (%u revoked)", it->revoked),
						it->revoked);
			putchar('\n');
			if (it->reason[0])
				printf("        %s%s%s\n", ctl_color(opts, CTL_DIM), it->reason,
						ctl_color(opts, CTL_RESET));
		}
	}
	if (t->n_problems) {
		printf(_("\n%sFiles not used:%s\n"), ctl_color(opts, CTL_YELLOW),
				ctl_color(opts, CTL_RESET));
		for (i = 0; i < t->n_problems; i++)
			printf("  %s\n", t->problems[i]);
	}
}

static void usage(FILE *out)
{
	fprintf(out, _("Usage: vitalectl [--json] [--config FILE] trust list [--dir DIR]\n"
			"       vitalectl [--config FILE] trust install BUNDLE\n\n"
			"Lists the issuer roots, document signers and CRLs of the trust directory\n"
			"([Trust] Directory of vitaled.conf, or DIR), with their validity.\n"
			"Exit status 1 when the directory cannot be read.\n"));
}

int cmd_trust(int argc, char **argv, const struct vitalectl_opts *opts)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl_value manager = { 0 };
	struct ctl_config cfg;
	struct ctl_trust t;
	const char *dir = NULL;
	char in_use[600];
	int opt, ret;

	optind = 0;	/* 0: glibc re-reads the option string (ordering too) */
	while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return VITALECTL_OK;
		default:
			usage(stderr);
			return VITALECTL_USAGE;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "install"))
		return ctl_trust_install(argc - optind, argv + optind, opts);
	if (optind + 1 != argc || strcmp(argv[optind], "list")) {
		usage(stderr);
		return VITALECTL_USAGE;
	}
	ctl_config_load(opts->config, &cfg);
	if (!dir) {
		if (cfg.problem[0])
			fprintf(stderr, "vitalectl: %s\n", cfg.problem);
		bundle_of_daemon(opts, &manager);
		ctl_trust_dir_in_use(&cfg, &manager, in_use, sizeof(in_use));
		dir = in_use;
	}
	ret = ctl_trust_inspect(dir, time(NULL), &t);
	if (ret < 0) {
		fprintf(stderr, "vitalectl: %s: %s\n", dir, strerror(-ret));
		ctl_trust_clear(&t);
		return VITALECTL_FAILED;
	}
	if (opts->json) {
		print_json(&t, &manager);
	} else {
		print_bundle(&manager);
		print_human(&t, opts);
	}
	ctl_value_clear(&manager);
	ret = t.dir_ok ? VITALECTL_OK : VITALECTL_FAILED;
	if (!t.dir_ok && !opts->json)
		fprintf(stderr, _("vitalectl: cannot read the trust directory %s\n"), dir);
	ctl_trust_clear(&t);
	return ret;
}
