/*
 * Strict base45 (RFC 9285) decoding.
 *
 * QR scanners and keyboard wedges garble text in ways that often still
 * decode; being strict about every rule of the RFC turns such damage into
 * a clear "malformed" instead of bytes that fail later for odd reasons.
 */
#include <errno.h>

#include "internal.h"

/* Value of each character of the alphabet, 0xFF for foreign ones. */
static uint8_t b45_value(unsigned char ch)
{
	static const char alphabet[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
	unsigned int i;

	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A' + 10;
	for (i = 36; i < sizeof(alphabet) - 1; i++)
		if (alphabet[i] == ch)
			return i;
	return 0xFF;
}

int vd_base45_decode(const char *in, size_t len, uint8_t *out, size_t out_size,
		size_t *out_len)
{
	size_t i, n = 0;

	if (len % 3 == 1)
		return -EBADMSG;
	if (out_size < len / 3 * 2 + (len % 3 ? 1 : 0))
		return -ENOBUFS;

	for (i = 0; i < len; i += 3) {
		size_t chunk = len - i < 3 ? len - i : 3;
		uint32_t value = 0, factor = 1;
		size_t k;

		for (k = 0; k < chunk; k++) {
			uint8_t v = b45_value((unsigned char)in[i + k]);

			if (v == 0xFF)
				return -EBADMSG;
			value += v * factor;
			factor *= 45;
		}
		if (chunk == 3) {
			if (value > 0xFFFF)
				return -EBADMSG;
			out[n++] = value >> 8;
			out[n++] = value & 0xFF;
		} else {
			if (value > 0xFF)
				return -EBADMSG;
			out[n++] = value;
		}
	}
	*out_len = n;
	return 0;
}
