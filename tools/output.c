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

const char *ctl_kind_text(const char *kind)
{
	static const struct {
		const char *name, *text;
	} kinds[] = {
		{ "contact", N_("contact") },
		{ "contactless", N_("contactless") },
		{ "qr-serial", N_("qr-serial") },
		{ "qr-hid", N_("qr-hid") },
		{ "qr-keyboard", N_("qr-keyboard") },
		{ "camera", N_("camera") },
	};
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kind, kinds[i].name))
			return _(kinds[i].text);
	return kind;
}

const char *ctl_marker_text(const char *marker)
{
	if (!strcmp(marker, "production"))
		return _("production");
	if (!strcmp(marker, "test"))
		return _("test");
	if (!strcmp(marker, "demo"))
		return _("demo");
	return marker;
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
	/* Card1.Status and State, Reader1.State, as doc/dbus-api.md lists them;
	 * in English the names themselves, as they were printed before */
	static const struct {
		const char *name, *text;
	} statuses[] = {
		{ "verified", N_("verified") },
		{ "forged", N_("forged") },
		{ "untrusted", N_("untrusted") },
		{ "expired", N_("expired") },
		{ "not-yet-valid", N_("not-yet-valid") },
		{ "revoked", N_("revoked") },
		{ "clone-suspected", N_("clone-suspected") },
		{ "opposed", N_("opposed") },
		{ "test-card", N_("test-card") },
		{ "malformed", N_("malformed") },
		{ "unverifiable", N_("unverifiable") },
		{ "replayed", N_("replayed") },
		{ "unsupported", N_("unsupported") },
		{ "read-failed", N_("read-failed") },
		{ "pending", N_("pending") },
		{ "reading", N_("reading") },
		{ "waiting", N_("waiting") },
		{ "done", N_("done") },
		{ "idle", N_("idle") },
		{ "card-present", N_("card-present") },
		{ "unavailable", N_("unavailable") },
		/* a trust item's (vitalectl trust list) */
		{ "valid", N_("valid") },
		{ "current", N_("current") },
		{ "stale", N_("stale") },
	};
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (!strcmp(status, statuses[i].name))
			return _(statuses[i].text);
	return status;
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
