/*
 * HID-POS report descriptors (plugins/hidpos-desc.c): the scanned-data
 * layout of real vendor styles, and descriptors that must be refused.
 */
#include <errno.h>
#include <string.h>

#include "tap.h"
#include "plugins.h"

/* Access-IS / Honeywell style: report id 2, length, AIM id, 56 data bytes,
 * further symbology, reserved, flags (bit 0: more follows). */
static const uint8_t desc_aim[] = {
	0x05, 0x8c, 0x09, 0x02, 0xa1, 0x01, 0x85, 0x02, 0x09, 0x12, 0xa1, 0x02,
	0x15, 0x00, 0x26, 0xff, 0x00, 0x75, 0x08, 0x95, 0x01,
	0x06, 0x00, 0xff, 0x09, 0x01, 0x81, 0x02,
	0x05, 0x8c, 0x09, 0xfb, 0x09, 0xfc, 0x09, 0xfd, 0x95, 0x03, 0x81, 0x02,
	0x09, 0xfe, 0x95, 0x38, 0x81, 0x02,
	0x06, 0x00, 0xff, 0x09, 0x02, 0x95, 0x02, 0x81, 0x02,
	0x05, 0x8c, 0x09, 0xff, 0x75, 0x01, 0x95, 0x01, 0x81, 0x02,
	0x75, 0x07, 0x95, 0x01, 0x81, 0x03,
	0xc0, 0xc0,
};

/* Another vendor: no report id, the flag first, 62 NUL-padded data bytes,
 * usages given as 4-byte extended usages. */
static const uint8_t desc_vendor[] = {
	0x05, 0x8c, 0x09, 0x02, 0xa1, 0x01,
	0x0b, 0xff, 0x00, 0x8c, 0x00, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x01, 0x81, 0x02,
	0x75, 0x07, 0x95, 0x01, 0x81, 0x03,
	0x0b, 0xfe, 0x00, 0x8c, 0x00, 0x75, 0x08, 0x95, 0x3e, 0x81, 0x02,
	0xc0,
};

static const uint8_t desc_keyboard[] = {
	0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7,
	0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0xc0,
};

static void test_aim(void)
{
	struct hidpos_layout l;
	char aim[4];
	uint8_t rep[64];
	const uint8_t *data;
	size_t len;
	bool more;

	tap_is(hidpos_parse_descriptor(desc_aim, sizeof(desc_aim), &l), 0, "AIM layout parses");
	tap_is(l.report_id, 2, "report id 2");
	tap_is(l.report_len, 63, "63 bytes after the id");
	tap_is(l.len_off, 0, "length byte first");
	tap_is(l.data_off, 4, "data after length and 3 AIM bytes");
	tap_is(l.data_len, 56, "56 data bytes");
	tap_is(l.more_bit, 62 * 8, "'more follows' is bit 0 of the last byte");

	memset(rep, 0, sizeof(rep));
	rep[0] = 2;
	rep[1] = 5;
	memcpy(rep + 2, "]Q1", 3);
	memcpy(rep + 5, "VT1:0", 5);
	rep[63] = 1;
	tap_is(hidpos_report_data(&l, rep, sizeof(rep), &data, &len, &more), 0, "report read");
	tap_ok(len == 5 && !memcmp(data, "VT1:0", 5) && more, "length byte and more bit honoured");
	rep[1] = 57;
	tap_is(hidpos_report_data(&l, rep, sizeof(rep), &data, &len, &more), -EINVAL,
			"a length beyond the data field is refused");
	rep[0] = 3;
	tap_is(hidpos_report_data(&l, rep, sizeof(rep), &data, &len, &more), -ENOMSG,
			"another report id is not ours");
	rep[0] = 2;
	tap_is(hidpos_report_data(&l, rep, 20, &data, &len, &more), -EINVAL,
			"a short report is refused");
	rep[1] = 5;
	tap_is(hidpos_report_data(&l, rep, 64, &data, &len, &more), 0, "the whole report is read");
	tap_is(hidpos_report_data(&l, rep, 63, &data, &len, &more), -EINVAL,
			"a report one byte short is refused");

	tap_ok(l.sym_off == 1 && l.sym_len == 3, "Symbology Identifier 1-3 after the length byte");
	hidpos_report_symbology(&l, rep, aim);
	tap_ok(!strcmp(aim, "]Q1"), "the report's AIM identifier");
	memcpy(rep + 2, "E0\0", 3);
	hidpos_report_symbology(&l, rep, aim);
	tap_ok(!strcmp(aim, "]E0"), "one sent without its ']' gets it");
	memset(rep + 2, 0, 3);
	hidpos_report_symbology(&l, rep, aim);
	tap_ok(!strcmp(aim, ""), "none sent: none");
	memcpy(rep + 2, "Q1x", 3);
	hidpos_report_symbology(&l, rep, aim);
	tap_ok(!strcmp(aim, ""), "three bytes that are no AIM identifier: none");
}

static void test_vendor(void)
{
	struct hidpos_layout l;
	char aim[4];
	uint8_t rep[63];
	const uint8_t *data;
	size_t len;
	bool more;

	tap_is(hidpos_parse_descriptor(desc_vendor, sizeof(desc_vendor), &l), 0,
			"vendor layout parses (extended usages)");
	tap_ok(l.report_id == 0 && l.len_off == -1 && l.more_bit == 0 && l.data_off == 1 &&
			l.data_len == 62, "no id, no length, flag bit 0, 62 data bytes at 1");
	memset(rep, 0, sizeof(rep));
	memcpy(rep + 1, "ABC", 3);
	tap_is(hidpos_report_data(&l, rep, sizeof(rep), &data, &len, &more), 0, "report read");
	tap_ok(len == 3 && !more, "trailing NUL padding is not data");
	tap_is(l.sym_off, -1, "no Symbology Identifier field");
	memset(aim, 'x', sizeof(aim));
	hidpos_report_symbology(&l, rep, aim);
	tap_ok(!strcmp(aim, ""), "so no AIM identifier");
}

static void test_refused(void)
{
	struct hidpos_layout l;
	uint8_t buf[256];
	size_t i;

	tap_is(hidpos_parse_descriptor(desc_keyboard, sizeof(desc_keyboard), &l), -ENOENT,
			"a keyboard is not a bar code scanner");
	for (i = 1; i < sizeof(desc_aim); i++)
		if (hidpos_parse_descriptor(desc_aim, i, &l) == 0)
			break;
	tap_is(i, sizeof(desc_aim), "no truncation of the descriptor is accepted");
	/* PUSH without end */
	memset(buf, 0xa4, sizeof(buf));
	tap_is(hidpos_parse_descriptor(buf, sizeof(buf), &l), -E2BIG, "PUSH depth is bounded");
	/* collections nested without end */
	for (i = 0; i + 1 < sizeof(buf); i += 2) {
		buf[i] = 0xa1;
		buf[i + 1] = 0x01;
	}
	tap_is(hidpos_parse_descriptor(buf, sizeof(buf), &l), -E2BIG,
			"collection depth is bounded");
	{
		static const uint8_t unbalanced[] = { 0x05, 0x8c, 0xc0 };
		static const uint8_t huge[] = { 0x05, 0x8c, 0x09, 0x02, 0xa1, 0x01, 0x09, 0xfe,
			0x75, 0x08, 0x97, 0xff, 0xff, 0xff, 0x7f, 0x81, 0x02, 0xc0 };
		/* 8 × 513 bits: each below its own bound, the product over */
		static const uint8_t over[] = { 0x05, 0x8c, 0x09, 0x02, 0xa1, 0x01, 0x09, 0xfe,
			0x75, 0x08, 0x96, 0x01, 0x02, 0x81, 0x02, 0xc0 };

		tap_is(hidpos_parse_descriptor(unbalanced, sizeof(unbalanced), &l), -EINVAL,
				"an END COLLECTION without a collection is refused");
		tap_is(hidpos_parse_descriptor(huge, sizeof(huge), &l), -E2BIG,
				"a report larger than a USB report can be is refused");
		tap_is(hidpos_parse_descriptor(over, sizeof(over), &l), -E2BIG,
				"513 fields of 8 bits (one byte too many) are refused");
	}
}

int main(void)
{
	test_aim();
	test_vendor();
	test_refused();
	return tap_done();
}
