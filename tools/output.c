/*
 * Terminal presentation shared by the commands: colours (only when
 * vitalectl_opts says so), plain words for machine names, times.
 */
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
		{ "card", "physical card" },
		{ "phone-nfc", "phone over NFC" },
		{ "phone-qr", "phone QR code" },
		{ "legacy-card", "legacy Vitale 2 card" },
	};
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		if (!strcmp(form, forms[i].name))
			return forms[i].text;
	return form[0] ? form : "unknown";
}

void ctl_format_time(time_t t, char buf[32])
{
	struct tm tm;

	if (!t || !localtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm))
		strcpy(buf, "-");
}

void ctl_format_date(time_t t, char buf[16])
{
	struct tm tm;

	if (!t || !localtime_r(&t, &tm) || !strftime(buf, 16, "%Y-%m-%d", &tm))
		strcpy(buf, "-");
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

const char *ctl_plural(uint64_t n)
{
	return n == 1 ? "" : "s";
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
