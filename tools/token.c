/*
 * vitalectl token verify: the daemon's token engine, for admins.
 *
 *   vitalectl [--json] token verify [OPTIONS] STRING
 *   vitalectl [--json] token verify [OPTIONS] --file FILE
 *
 * Open-profile tokens ("VT1:") are verified against the trust directory;
 * with --cert, plain HCERT documents ("HC1:") are checked against that
 * one signer certificate (the EU DCC test vectors).  The daemon is not
 * needed.  Exit 0 only for a verified document.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vitaled-core.h"
#include "vitalectl.h"

#define TOKEN_TEXT_MAX	(256 * 1024)

/* n decimal digits at s (no sign, no space), or -1 */
static int digits(const char *s, int n)
{
	int v = 0;

	for (; n; n--, s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/*
 * "@SECONDS", or ISO 8601 "YYYY-MM-DDTHH:MM:SS" with an optional fraction
 * (dropped: verification is to the second) and a zone: Z, ±HH:MM or ±HHMM
 * (all forms seen in the DCC vectors).  No zone means UTC, not local time,
 * so that a check gives the same answer on every machine (doc/vitalectl.md).
 */
static int parse_instant(const char *s, time_t *out)
{
	int y, mo, d, h, mi, sec, zh = 0, zm = 0;
	long long epoch;
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (s[0] == '@') {
		char *end;

		errno = 0;
		epoch = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1 || *end)
			return -EINVAL;
		*out = (time_t)epoch;
		return 0;
	}
	if (strlen(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
			s[16] != ':')
		return -EINVAL;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	p = s + 19;
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		zh = digits(p + 1, 2);
		if (zh < 0 || zh > 23)
			return -EINVAL;
		if (p[3] == ':')
			p++;
		zm = digits(p + 3, 2);
		if (zm < 0 || zm > 59)
			return -EINVAL;
		p += 5;
		zh *= sign;
		zm *= sign;
	} else if (*p == 'Z') {
		p++;
	}
	if (*p || y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
			mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*out = t - zh * 3600 - zm * 60;
	return 0;
}

/* A file named on the command line, never blocking on a FIFO or device;
 * NULL after saying why. */
static FILE *open_file(const char *path)
{
	int err = 0;
	FILE *f = vd_fopen_regular(path, &err);

	if (!f)
		fprintf(stderr, "vitalectl: %s: %s\n", path, vd_open_strerror(err));
	return f;
}

/* The whole file, without the line end a QR scanner or editor adds. */
static char *read_text(const char *path, size_t *len)
{
	FILE *f = open_file(path);
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(TOKEN_TEXT_MAX + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, TOKEN_TEXT_MAX + 1, f);
	if (ferror(f) || n > TOKEN_TEXT_MAX) {
		fprintf(stderr, "vitalectl: %s: %s\n", path,
				ferror(f) ? _("read error") : _("too large for a token"));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The text of the QR code in an image (PNG, JPEG, PGM); NULL after saying why. */
static char *read_image(const char *path, size_t *len)
{
	char *buf = malloc(TOKEN_TEXT_MAX + 1);
	int err;

	if (!buf)
		return NULL;
	err = vd_qr_scan_file(path, (uint8_t *)buf, TOKEN_TEXT_MAX, len);
	if (err) {
		fprintf(stderr, "vitalectl: %s: %s\n", path, vd_qr_strerror(err));
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

static X509 *load_cert(const char *path)
{
	FILE *f = open_file(path);
	X509 *cert;

	if (!f)
		return NULL;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	if (!cert) {
		rewind(f);
		cert = d2i_X509_fp(f, NULL);
	}
	fclose(f);
	if (!cert)
		fprintf(stderr, _("vitalectl: %s: not a PEM or DER certificate\n"), path);
	return cert;
}

static void report_trust(const char *path, const char *why, void *user_data)
{
	fprintf(stderr, _("vitalectl: trust file %s: %s\n"), path, why);
}

static void print_verdict(const struct vitalectl_opts *opts, const struct vd_verdict *v,
		const char *step, const struct vd_read_result *res)
{
	const char *status = vd_status_name(v->status);
	struct json j;

	if (!opts->json) {
		/* the reason is libvitaled-core's, in English like the daemon's */
		printf("%s%s%s: %s\n", ctl_color(opts, ctl_status_color(status)),
				ctl_status_text(status), ctl_color(opts, CTL_RESET), v->reason);
		if (res && res->has_record)
			printf(ngettext("%s, %u beneficiary, %s\n", "%s, %u beneficiaries, %s\n",
					res->record.n_beneficiaries),
					ctl_form_text(vd_form_factor_name(res->form)),
					res->record.n_beneficiaries,
							ctl_marker_text(vd_marker_name(res->marker)));
		return;
	}
	json_init(&j, stdout);
	json_object_begin(&j);
	json_key_string(&j, "status", status);
	json_key_string(&j, "reason", v->reason);
	/* HCERT: the envelope step that failed, for the DCC test vectors. */
	if (step)
		json_key_string(&j, "step", step);
	if (res) {
		json_key_string(&j, "form", vd_form_factor_name(res->form));
		if (res->has_record) {
			json_key_string(&j, "marker", vd_marker_name(res->marker));
			json_key_uint(&j, "beneficiaries", res->record.n_beneficiaries);
		}
		if (res->expires)
			json_key_int(&j, "expires", res->expires);
	}
	json_object_end(&j);
	json_finish(&j);
}

static int verify_hcert(const char *cert_path, const char *text, size_t len, time_t at,
		const struct vd_settings *set, const struct vitalectl_opts *opts)
{
	struct vd_verdict v;
	const char *step;
	X509 *cert;

	cert = load_cert(cert_path);
	if (!cert)
		return VITALECTL_USAGE;
	step = vd_hcert_verify(cert, (const uint8_t *)text, len, at,
			set->token_max_inflated, &v);
	X509_free(cert);
	print_verdict(opts, &v, step, NULL);
	return v.status == VD_STATUS_VERIFIED ? VITALECTL_OK : VITALECTL_FAILED;
}

static int verify_token(const char *trust_dir, const char *text, size_t len, time_t at,
		const struct vd_settings *set, const struct vitalectl_opts *opts)
{
	struct vd_read_result *res;
	struct vd_context *ctx;
	struct vd_trust *trust;
	int ret, err;

	err = vd_trust_load(trust_dir, report_trust, NULL, &trust);
	if (err) {
		fprintf(stderr, _("vitalectl: cannot load trust directory %s: %s\n"),
				trust_dir, strerror(-err));
		return VITALECTL_FAILED;
	}
	ctx = vd_context_new(trust, set);
	vd_trust_unref(trust);
	res = vd_read_result_new();
	if (!ctx || !res) {
		fprintf(stderr, _("vitalectl: out of memory\n"));
		vd_context_unref(ctx);
		vd_read_result_free(res);
		return VITALECTL_FAILED;
	}
	vd_token_verify(ctx, NULL, (const uint8_t *)text, len, at, res);
	print_verdict(opts, &res->verdict, NULL, res);
	ret = res->verdict.status == VD_STATUS_VERIFIED ? VITALECTL_OK : VITALECTL_FAILED;
	vd_read_result_free(res);
	vd_context_unref(ctx);
	return ret;
}

static void token_usage(FILE *out)
{
	fprintf(out, _("Usage: vitalectl [--json] token verify [OPTIONS] STRING|--file FILE|--image IMG\n\n"
			"  --file FILE       read the token text from FILE\n"
			"  --image IMG       read the QR code in IMG (PNG, JPEG or binary PGM)\n"
			"  --trust-dir DIR   trust directory (default: vitaled.conf's, else %s)\n"
			"  --cert CERT       check a plain HCERT (\"HC1:\") against this signer\n"
			"  --at TIME         verify at TIME (ISO 8601, no zone = UTC, or @SECONDS;\n"
			"                    default now)\n"
			"  --skew SECONDS    clock skew tolerated on token times\n"
			"  --max-age SECONDS longest presentation lifetime accepted\n"
			"  --allow-test-cards accept test/demo markers\n"), TRUSTDIR);
}

static int parse_seconds(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 86400 * 366)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

int cmd_token(int argc, char **argv, const struct vitalectl_opts *opts)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "image", required_argument, NULL, 'i' },
		{ "trust-dir", required_argument, NULL, 't' },
		{ "cert", required_argument, NULL, 'c' },
		{ "at", required_argument, NULL, 'a' },
		{ "skew", required_argument, NULL, 's' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "allow-test-cards", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *image = NULL, *trust_dir = NULL, *cert = NULL;
	struct ctl_config cfg;
	struct vd_settings set;
	char *text, *owned = NULL;
	time_t at = time(NULL);
	size_t len;
	int opt, ret;

	/* Same trust directory, test-card policy and token limits as the
	 * daemon; the options below override them. */
	vd_settings_default(&set);
	ctl_config_load(opts->config, &cfg);
	set.allow_test_cards = cfg.allow_test_cards;
	if (cfg.clock_skew >= 0)
		set.clock_skew = (unsigned int)cfg.clock_skew;
	if (cfg.token_max_age >= 0)
		set.token_max_age = (unsigned int)cfg.token_max_age;
	if (cfg.token_max_inflated >= 0)
		set.token_max_inflated = (size_t)cfg.token_max_inflated;
	if (cfg.trust_dir[0])
		trust_dir = cfg.trust_dir;
	if (argc < 2 || strcmp(argv[1], "verify")) {
		token_usage(stderr);
		return VITALECTL_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			file = optarg;
			break;
		case 'i':
			image = optarg;
			break;
		case 't':
			trust_dir = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'a':
			if (parse_instant(optarg, &at)) {
				fprintf(stderr, _("vitalectl: --at: not a time: %s\n"), optarg);
				return VITALECTL_USAGE;
			}
			break;
		case 's':
		case 'm':
			if (parse_seconds(optarg, opt == 's' ? &set.clock_skew :
					&set.token_max_age)) {
				fprintf(stderr, _("vitalectl: not a number of seconds: %s\n"),
						optarg);
				return VITALECTL_USAGE;
			}
			break;
		case 'T':
			set.allow_test_cards = true;
			break;
		case 'h':
			token_usage(stdout);
			return VITALECTL_OK;
		default:
			token_usage(stderr);
			return VITALECTL_USAGE;
		}
	}
	if ((file != NULL) + (image != NULL) + (optind < argc) != 1 || argc - optind > 1) {
		token_usage(stderr);
		return VITALECTL_USAGE;
	}
	if (!trust_dir)
		trust_dir = TRUSTDIR;
	if (file) {
		owned = read_text(file, &len);
		if (!owned)
			return VITALECTL_USAGE;
		text = owned;
	} else if (image) {
		owned = read_image(image, &len);
		if (!owned)
			return VITALECTL_FAILED;
		text = owned;
	} else {
		text = argv[optind];
		len = strlen(text);
	}
	if (cert)
		ret = verify_hcert(cert, text, len, at, &set, opts);
	else
		ret = verify_token(trust_dir, text, len, at, &set, opts);
	free(owned);
	return ret;
}
