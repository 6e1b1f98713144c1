/*
 * PC/SC reader identity and kind.
 *
 * pcscd names a reader "<friendly name> XX YY": XX is an index that
 * changes with plug order, YY the slot of a multi-slot ("bi-fente")
 * reader.  The identity keeps the slot and drops the index, so a reader
 * keeps its id across replug and reordering.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "plugins.h"

static bool is_hex2(const char *s)
{
	return isxdigit((unsigned char)s[0]) && isxdigit((unsigned char)s[1]);
}

/* Length of the name without " XX YY", and the slot number. */
static size_t split_name(const char *name, unsigned int *slot)
{
	size_t len = strlen(name);

	*slot = 0;
	if (len < 7)
		return len;
	if (name[len - 6] != ' ' || !is_hex2(name + len - 5) ||
	    name[len - 3] != ' ' || !is_hex2(name + len - 2))
		return len;
	sscanf(name + len - 2, "%2x", slot);
	return len - 6;
}

static bool contains_nocase(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	for (size_t at = 0; nlen && at + nlen <= hlen; at++)
		if (!strncasecmp(hay + at, needle, nlen))
			return true;
	return false;
}

void pcsc_reader_id(const char *name, char *id, size_t size)
{
	uint32_t hash = 2166136261u;	/* FNV-1a: stable, not a secret */
	unsigned int slot;
	size_t len = split_name(name, &slot), i;

	for (i = 0; i < len; i++) {
		hash ^= (unsigned char)name[i];
		hash *= 16777619u;
	}
	snprintf(id, size, "pcsc-%08x-%u", hash, slot);
}

bool pcsc_name_is_contactless(const char *name)
{
	static const char *const words[] = {
		"contactless", "picc", "nfc", "rfid", "-cl", " cl ", NULL,
	};
	unsigned int slot;
	size_t len = split_name(name, &slot);

	/* the slot's " 00 00" must not pass for " cl " */
	for (unsigned int i = 0; words[i]; i++)
		if (contains_nocase(name, len, words[i], strlen(words[i])))
			return true;
	return false;
}

bool pcsc_atr_is_contactless(const uint8_t *atr, size_t len)
{
	/* TS=3B, T0=8n (TD1 follows), TD1=80, TD2=01, then the historical
	 * bytes' category indicator 80 and the application tag 4F. */
	return len >= 6 && atr[0] == 0x3B && (atr[1] & 0xF0) == 0x80 &&
		atr[2] == 0x80 && atr[3] == 0x01 && atr[4] == 0x80 && atr[5] == 0x4F;
}

bool pcsc_name_matches(const char *name, const char *patterns)
{
	const char *p = patterns;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t plen = end ? (size_t)(end - p) : strlen(p), nlen = strlen(name);

		while (plen && isspace((unsigned char)*p)) {
			p++;
			plen--;
		}
		while (plen && isspace((unsigned char)p[plen - 1]))
			plen--;
		if (contains_nocase(name, nlen, p, plen))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}
