/* Which scanned codes are Vitale tokens (vd_token_is_vitale): a shared desk
 * scanner also reads drug boxes, prescriptions and web links. */
#include <string.h>

#include "vitaled-core.h"
#include "tap.h"

static int is_vitale(const char *s)
{
	return vd_token_is_vitale((const uint8_t *)s, strlen(s));
}

int main(void)
{
	static const uint8_t gs1[] = "\x1d" "0103400930000120" "\x1d" "17270131" "10ABC";

	tap_ok(is_vitale("VT1:6BFOXN*TS0BI$ZD4N9"), "VT1: is ours");
	tap_ok(is_vitale("VT2:ABC"), "another version (VT2:) is ours: a card says unsupported");
	tap_ok(is_vitale("VT999:A"), "three version digits");
	tap_ok(!is_vitale("VT1000:A"), "four digits are not a version");
	tap_ok(!is_vitale("VT:ABC"), "no version");
	tap_ok(!is_vitale("VT1"), "no colon");
	tap_ok(is_vitale("VT1:"), "the prefix alone is ours (then malformed)");
	tap_ok(!is_vitale("vt1:ABC"), "lower case is not (QR alphanumeric has none)");
	tap_ok(!is_vitale("HC1:NCFOXN%TS3DH"), "a plain EU DCC is not ours");
	tap_ok(!is_vitale("3400930000120"), "an EAN-13 drug box");
	tap_ok(!vd_token_is_vitale(gs1, sizeof(gs1) - 1), "a GS1 DataMatrix string with GS");
	tap_ok(!is_vitale("https://example.org/VT1:"), "a link containing the prefix");
	tap_ok(!is_vitale(""), "empty");
	tap_ok(!vd_token_is_vitale(NULL, 4), "NULL");
	return tap_done();
}
