/* Reader identity and kind from PC/SC names and ATRs (plugins/pcsc-name.c),
 * and pcscd's card event counter (plugins/pcsc-counter.c). */
#include <string.h>

#include "../../plugins/plugins.h"
#include "tap.h"

static void id_of(const char *name, char *id)
{
	pcsc_reader_id(name, id, PCSC_ID_MAX);
}

int main(void)
{
	static const uint8_t phone[] = { 0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0,
		0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6A };
	static const uint8_t card[] = { 0x3B, 0x89, 0x80, 0x01, 'V', 'I', 'T', 'A', 'L',
		'E', 'D', 'C', '1', 0x00 };
	static const uint8_t legacy[] = { 0x3B, 0x75, 0x13, 0x00, 0x00, 0x44, 0x09, 0xEA,
		0x90, 0x00 };
	char a[PCSC_ID_MAX], b[PCSC_ID_MAX];

	/* the index pcscd gives by plug order does not change the id */
	id_of("Gemalto PC Twin Reader 00 00", a);
	id_of("Gemalto PC Twin Reader 01 00", b);
	tap_ok(!strcmp(a, b), "index dropped: %s == %s", a, b);
	tap_ok(!strncmp(a, "pcsc-", 5), "id starts with pcsc-: %s", a);
	tap_ok(a[strlen(a) - 2] == '-' && a[strlen(a) - 1] == '0', "slot 0 kept: %s", a);

	/* the two slots of a bi-fente reader differ */
	id_of("Virtual PCD 00 00", a);
	id_of("Virtual PCD 00 01", b);
	tap_ok(strcmp(a, b) != 0, "slots differ: %s != %s", a, b);
	tap_ok(!strcmp(b + strlen(b) - 2, "-1"), "slot 1 kept: %s", b);

	/* different readers (or serial numbers) differ */
	id_of("Gemalto PC Twin Reader (1234) 00 00", a);
	id_of("Gemalto PC Twin Reader (5678) 00 00", b);
	tap_ok(strcmp(a, b) != 0, "serial numbers tell readers apart");

	/* a name pcscd did not number is taken whole */
	id_of("odd", a);
	tap_ok(!strcmp(a + strlen(a) - 2, "-0"), "short name: %s", a);
	id_of("Reader ZZ 00", a);
	tap_ok(!strcmp(a + strlen(a) - 2, "-0"), "no index suffix: %s", a);

	/* kind from the name */
	tap_ok(pcsc_name_is_contactless("ACS ACR122U PICC Interface 00 00"), "PICC is contactless");
	tap_ok(pcsc_name_is_contactless("SCM Microsystems SCL011 Contactless Reader 00 00"),
			"Contactless is contactless");
	tap_ok(pcsc_name_is_contactless("OMNIKEY CardMan 5x21-CL 00 00"), "-CL is contactless");
	tap_ok(pcsc_name_is_contactless("Identiv uTrust 3700 F CL Reader 00 00"), "' CL ' is contactless");
	tap_ok(!pcsc_name_is_contactless("Gemalto PC Twin Reader 00 00"), "PC Twin is contact");
	tap_ok(!pcsc_name_is_contactless("Virtual PCD 00 01"), "Virtual PCD is contact");
	tap_ok(!pcsc_name_is_contactless("Reader 0C 0C"), "the slot suffix is not ' CL '");

	/* kind from the ATR */
	tap_ok(pcsc_atr_is_contactless(phone, sizeof(phone)), "part 3 contactless ATR");
	tap_ok(!pcsc_atr_is_contactless(card, sizeof(card)), "open-profile card ATR is contact");
	tap_ok(!pcsc_atr_is_contactless(legacy, sizeof(legacy)), "Vitale 2 ATR is contact");
	tap_ok(!pcsc_atr_is_contactless(phone, 5), "short ATR");

	/* IgnoreReaders patterns */
	tap_ok(pcsc_name_matches("Yubico YubiKey OTP+FIDO+CCID 00 00", "yubikey"), "case-insensitive");
	tap_ok(pcsc_name_matches("Virtual PCD 00 01", "foo, PCD 00 01 ,bar"), "list with spaces");
	tap_ok(!pcsc_name_matches("Virtual PCD 00 00", "PCD 00 01"), "no match");
	tap_ok(!pcsc_name_matches("Virtual PCD 00 00", ""), "empty list");
	tap_ok(!pcsc_name_matches("Virtual PCD 00 00", " , ,"), "empty items match nothing");
	tap_ok(!pcsc_name_matches("Virtual PCD 00 00", NULL), "no list");
	/* the counter with the card present at both reads */
	tap_ok(!pcsc_counter_swapped(7, 7), "same counter: the same card");
	tap_ok(!pcsc_counter_swapped(7, 8), "one step: a read torn by pcscd's update, no new card");
	tap_ok(pcsc_counter_swapped(7, 9), "two steps: pulled and put back");
	tap_ok(pcsc_counter_swapped(7, 10), "three steps (a torn read, then a swap): a new card");
	tap_ok(!pcsc_counter_swapped(0xFFFF, 0), "one step across pcscd's wrap: no new card");
	tap_ok(pcsc_counter_swapped(0xFFFF, 1), "two steps across the wrap: a new card");
	return tap_done();
}
