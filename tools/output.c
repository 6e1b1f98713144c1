/*
 * Terminal presentation shared by the commands: colours (only when
 * vitalectl_opts says so), plain words for machine names, times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vitalectl.h"

const char *ctl_color(const struct vitalectl_opts *opts, enum ctl_color color)
{
	static const char *const seq[] = {
		[CTL_RESET] = "\033[0m",
		[CTL_BOLD] = "\033[1m",
		[CTL_DIM] = "\033[2m",
		[CTL_GREEN] = "\033[32m",
		[CTL_YELLOW] = "\033[33m",
		[CTL_RED] = "\033[31m",
		[CTL_CYAN] = "\033[36m",
	};

	return opts->color ? seq[color] : "";
}

enum ctl_color ctl_status_color(const char *status)
{
	if (!strcmp(status, "verified"))
		return CTL_GREEN;
	if (!strcmp(status, "unverifiable"))
		return CTL_YELLOW;
	if (!strcmp(status, "reading"))
		return CTL_CYAN;
	if (!strcmp(status, "waiting"))
		return CTL_YELLOW;
	return CTL_RED;
}

const char *ctl_form_text(const char *form)
{
	static const struct {
		const char *name, *text;
	} forms[] = {
		{ "card", N_("physical card") },
		{ "phone-nfc", N_("phone over NFC") },
		{ "phone-qr", N_("phone QR code") },
		{ "legacy-card", N_("legacy Vitale 2 card") },
	};
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		if (!strcmp(form, forms[i].name))
			return _(forms[i].text);
	return form[0] ? form : _("unknown");
}

/* name translated when it is one of names (marked with N_(): in English
 * the machine names are shown as they are), else as it is. */
static const char *known_text(const char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return _(name);
	return name;
}

#define KNOWN_TEXT(names, name)	known_text(names, sizeof(names) / sizeof(names[0]), name)

const char *ctl_kind_text(const char *kind)
{
	static const char *const kinds[] = { N_("contact"), N_("contactless"), N_("qr-serial"),
		N_("qr-hid"), N_("qr-keyboard"), N_("camera") };

	return KNOWN_TEXT(kinds, kind);
}

const char *ctl_marker_text(const char *marker)
{
	static const char *const markers[] = { N_("production"), N_("test"), N_("demo") };

	return KNOWN_TEXT(markers, marker);
}

const char *ctl_trust_counts(uint64_t roots, uint64_t signers, uint64_t crls, uint64_t opposed,
		char buf[CTL_TRUST_COUNTS_SIZE])
{
	/* each number with its own plural: languages differ on which take one */
	char r[48], s[48], c[48], o[56];

	snprintf(r, sizeof(r), ngettext("%llu root", "%llu roots", roots),
			(unsigned long long)roots);
	snprintf(s, sizeof(s), ngettext("%llu signer", "%llu signers", signers),
			(unsigned long long)signers);
	snprintf(c, sizeof(c), ngettext("%llu CRL", "%llu CRLs", crls), (unsigned long long)crls);
	snprintf(o, sizeof(o), ngettext("%llu opposed serial", "%llu opposed serials", opposed),
			(unsigned long long)opposed);
	/* TRANSLATORS: roots, signers, CRLs, opposed serials, each counted */
	snprintf(buf, CTL_TRUST_COUNTS_SIZE, _("%s, %s, %s, %s"), r, s, c, o);
	return buf;
}

const char *ctl_status_text(const char *status)
{
	/* Card1.Status and State, Reader1.State, as doc/dbus-api.md lists them */
	static const char *const statuses[] = {
		N_("verified"), N_("forged"), N_("untrusted"), N_("expired"), N_("not-yet-valid"),
		N_("revoked"), N_("clone-suspected"), N_("opposed"), N_("test-card"),
		N_("malformed"), N_("unverifiable"), N_("replayed"), N_("unsupported"),
		N_("read-failed"), N_("pending"), N_("reading"), N_("waiting"), N_("done"),
		N_("idle"), N_("card-present"), N_("unavailable"),
		/* a trust item's (vitalectl trust list) */
		N_("valid"), N_("current"), N_("stale"),
	};

	return KNOWN_TEXT(statuses, status);
}

void ctl_format_time(time_t t, char buf[32])
{
	struct tm tm;

	/* TRANSLATORS: strftime(3) format of a date and time (French: %d/%m/%Y %H:%M:%S) */
	if (!t || !localtime_r(&t, &tm) || !strftime(buf, 32, _("%Y-%m-%d %H:%M:%S"), &tm))
		strcpy(buf, "-");
}

void ctl_format_date(time_t t, char buf[16])
{
	struct tm tm;

	if (!t || !localtime_r(&t, &tm) || !strftime(buf, 16, _("%Y-%m-%d"), &tm))
		strcpy(buf, "-");
}

const char *ctl_date_text(const char *iso, char buf[16])
{
	struct tm tm = { 0 };
	char *end;

	end = strptime(iso, "%Y-%m-%d", &tm);
	if (!end || *end || !strftime(buf, 16, _("%Y-%m-%d"), &tm))
		snprintf(buf, 16, "%s", iso[0] ? iso : "-");
	return buf;
}

int ctl_no_args(int argc, char **argv, const char *usage)
{
	bool help;

	if (argc <= 1)
		return -1;
	help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
	fputs(usage, help ? stdout : stderr);
	return help ? VITALECTL_OK : VITALECTL_USAGE;
}

void ctl_print_header(const struct vitalectl_opts *opts, const char *lead,
		const struct ctl_column *cols, size_t n)
{
	size_t i;

	printf("%s%s", ctl_color(opts, CTL_BOLD), lead);
	for (i = 0; i + 1 < n; i++)
		ctl_print_padded(_(cols[i].title), cols[i].width);
	printf("%s%s\n", n ? _(cols[n - 1].title) : "", ctl_color(opts, CTL_RESET));
}

/* Pads by characters, not bytes: names carry accents. */
void ctl_print_padded(const char *s, unsigned int width)
{
	unsigned int chars = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			chars++;
	fputs(s, stdout);
	for (; chars < width; chars++)
		putchar(' ');
	putchar(' ');
}
