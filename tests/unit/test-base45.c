/* base45: the RFC 9285 vectors and every rejection rule. */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "tap.h"

static int decode(const char *text, uint8_t *out, size_t *len)
{
	return vd_base45_decode(text, strlen(text), out, 64, len);
}

static void good(const char *text, const char *want, size_t want_len)
{
	uint8_t out[64];
	size_t len = 0;
	int ret = decode(text, out, &len);

	tap_ok(!ret && len == want_len && !memcmp(out, want, want_len),
			"\"%s\" decodes", text);
}

static void bad(const char *text, int want, const char *why)
{
	uint8_t out[64];
	size_t len;

	tap_is(decode(text, out, &len), want, "\"%s\" refused: %s", text, why);
}

int main(void)
{
	uint8_t out[4];
	size_t len;

	/* RFC 9285 §4.3 and §4.4 */
	good("BB8", "AB", 2);
	good("%69 VD92EX0", "Hello!!", 7);
	good("UJCLQE7W581", "base-45", 7);
	good("QED8WEX0", "ietf!", 5);
	good("", "", 0);
	good("00", "\0", 1);
	good("000", "\0\0", 2);
	good("FGW", "\xff\xff", 2);	/* 65535, the largest chunk */
	good("U5", "\xff", 1);		/* 255, the largest pair */

	bad("GGW", -EBADMSG, "chunk 65536 > 0xFFFF");
	bad(":::", -EBADMSG, "chunk 45^3-1 > 0xFFFF");
	bad("V5", -EBADMSG, "pair 256 > 0xFF");
	bad("::", -EBADMSG, "pair 2024 > 0xFF");
	bad("A", -EBADMSG, "length 1 mod 3");
	bad("BB8A", -EBADMSG, "length 4 = 1 mod 3");
	bad("bb8", -EBADMSG, "lower case is foreign");
	bad("BB#", -EBADMSG, "foreign character");
	bad("BB\n", -EBADMSG, "line end is foreign");
	bad("B\xc3\x89", -EBADMSG, "non-ASCII");
	tap_is(vd_base45_decode("BB8\0AB", 6, out, sizeof(out), &len), -EBADMSG,
			"an embedded NUL is foreign");
	tap_is(vd_base45_decode("%69 VD92EX0", 11, out, sizeof(out), &len), -ENOBUFS,
			"a short output buffer is refused, not overrun");
	tap_is(vd_base45_decode("%69", 3, out, 2, &len), 0, "exactly enough room is fine");
	return tap_done();
}
