/* Strict BER-TLV (lib/tlv.c) against hostile inputs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tap.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static int one(const uint8_t *buf, size_t len, struct vd_tlv *t)
{
	return vd_tlv_parse_one(buf, len, t);
}

static void test_headers(void)
{
	struct vd_tlv t;
	uint8_t big[4 + 65536];

	tap_ok(one(B(0x80, 0x01, 0x01), &t) == 0 && t.tag == 0x80 && t.len == 1 &&
			!t.constructed && t.value[0] == 1 && t.raw_len == 3, "short form");
	tap_ok(one(B(0x61, 0x00), &t) == 0 && t.constructed && t.len == 0, "empty template");
	tap_ok(one(B(0x5f, 0x20, 0x01, 0x41), &t) == 0 && t.tag == 0x5f20, "two-byte tag");
	tap_ok(one(B(0x7f, 0x81, 0x01, 0x00), &t) == 0 && t.tag == 0x7f8101 && t.constructed,
			"three-byte tag");
	tap_is(one(B(0x5f, 0x81, 0x81, 0x01, 0x00), &t), -EBADMSG, "four-byte tag refused");
	tap_is(one(B(0x5f, 0x1e, 0x00), &t), -EBADMSG, "two-byte tag for a number < 31 refused");
	tap_is(one(B(0x5f, 0x80, 0x20, 0x00), &t), -EBADMSG, "tag number with a leading zero refused");
	tap_is(one(B(0x00, 0x00), &t), -EBADMSG, "tag 00 (padding) refused");
	tap_is(one(B(0xff, 0x00), &t), -EBADMSG, "tag FF refused");
	tap_is(one(B(0x5f), &t), -EBADMSG, "tag cut short");
	tap_is(one(B(0x80), &t), -EBADMSG, "length missing");
	tap_is(one(B(0x80, 0x80, 0x00, 0x00), &t), -EBADMSG, "indefinite length refused");
	tap_is(one(B(0x80, 0x84, 0x00, 0x00, 0x00, 0x01, 0x00), &t), -EBADMSG,
			"4 length bytes refused");
	tap_is(one(B(0x80, 0x81, 0x05, 1, 2, 3, 4, 5), &t), -EBADMSG, "non-minimal 81 05 refused");
	tap_is(one(B(0x80, 0x82, 0x00, 0x80), &t), -EBADMSG, "length with a leading zero refused");
	tap_is(one(B(0x80, 0x05, 1, 2, 3), &t), -EBADMSG, "value past the end refused");
	tap_is(one(B(0x80, 0x01, 0x01, 0x00), &t), -EBADMSG, "trailing byte refused by parse_one");
	tap_is(one(B(0x80, 0x82, 0xff, 0xff), &t), -EBADMSG, "65535 claimed, 0 present");

	memset(big, 0x41, sizeof(big));
	big[0] = 0x80;
	big[1] = 0x81;
	big[2] = 0x80;
	tap_ok(one(big, 3 + 128, &t) == 0 && t.len == 128, "81 80: 128 bytes");
	big[1] = 0x83;
	big[2] = 0x01;
	big[3] = 0x00;
	big[4] = 0x00;
	tap_ok(one(big, 5 + 65536, &t) == 0 && t.len == 65536, "83 01 00 00: 65536 bytes");
	tap_is(one(big, 5 + 65535, &t), -EBADMSG, "83 01 00 00 one byte short");
	/* nine length bytes: the top one shifted out of a size_t, 128 left */
	memset(big + 2, 0, 8);
	big[1] = 0x89;
	big[2] = 0x01;
	big[10] = 0x80;
	tap_is(one(big, 11 + 128, &t), -EBADMSG, "89 01 00..00 80 (wraps to 128) refused");
	big[1] = 0x83;
	big[2] = 0x01;
	memset(big + 3, 0, 2);
	memset(big + 5, 0x41, 6);

	/* The same, one byte past the end, where only the length check can
	 * see it: parse_one's own "nothing after the TLV" test would hide it. */
	{
		struct vd_tlv_iter it;

		vd_tlv_iter_init(&it, big, 5 + 65535);
		tap_is(vd_tlv_next(&it, &t), -EBADMSG, "iterator: 83 01 00 00 one byte short");
		vd_tlv_iter_init(&it, B(0x80, 0x03, 1, 2));
		tap_is(vd_tlv_next(&it, &t), -EBADMSG, "iterator: 80 03 with 2 bytes");
		tap_is(vd_tlv_check_tree(B(0x80, 0x03, 1, 2), VD_TLV_MAX_DEPTH), -EBADMSG,
				"tree walk: 80 03 with 2 bytes");
		tap_is(vd_tlv_check_tree(B(0x80, 0x01, 1, 0x80, 0x02, 1), VD_TLV_MAX_DEPTH),
				-EBADMSG, "tree walk: second value one byte past the end");
	}
}

static void test_iter(void)
{
	static const uint8_t seq[] = { 0x80, 0x01, 0x01, 0x81, 0x02, 'h', 'i', 0x80, 0x09 };
	struct vd_tlv_iter it;
	struct vd_tlv t;

	vd_tlv_iter_init(&it, seq, sizeof(seq));
	tap_ok(vd_tlv_next(&it, &t) == 1 && t.tag == 0x80, "iterator: first");
	tap_ok(vd_tlv_next(&it, &t) == 1 && t.tag == 0x81 && t.len == 2, "iterator: second");
	tap_is(vd_tlv_next(&it, &t), -EBADMSG, "iterator: broken third");
	tap_is(vd_tlv_next(&it, &t), 0, "iterator stays finished after an error");
	vd_tlv_iter_init(&it, NULL, 0);
	tap_is(vd_tlv_next(&it, &t), 0, "iterator over nothing");
}

static void test_tree(void)
{
	uint8_t bomb[4000];
	size_t i, start;

	tap_is(vd_tlv_check_tree(B(0x63, 0x08, 0xa0, 0x06, 0xa1, 0x04, 0x80, 0x02, '1', '2'),
				VD_TLV_MAX_DEPTH), 0, "depth 4 accepted");
	tap_is(vd_tlv_check_tree(B(0x62, 0x08, 0xa0, 0x06, 0xa1, 0x04, 0xa2, 0x02, 0xa3, 0x00),
				VD_TLV_MAX_DEPTH), -EBADMSG, "depth 5 refused");
	/* levels count primitive TLVs too: a leaf one level below is a fifth */
	tap_is(vd_tlv_check_tree(B(0x63, 0x0a, 0xa0, 0x08, 0xa1, 0x06, 0xb0, 0x04, 0x90, 0x02,
					'1', '2'), VD_TLV_MAX_DEPTH), -EBADMSG,
			"a primitive at depth 5 refused (63 > A0 > A1 > B0 > 90)");
	tap_is(vd_tlv_check_tree(B(0x63, 0x06, 0xa0, 0x04, 0xa1, 0x02, 0xb0, 0x00),
				VD_TLV_MAX_DEPTH), 0, "an empty template at depth 4 accepted");
	tap_is(vd_tlv_check_tree(B(0x62, 0x05, 0xa0, 0x03, 0x80, 0x01, 0x00, 0x81, 0x00),
				VD_TLV_MAX_DEPTH), 0, "siblings after a template");
	tap_is(vd_tlv_check_tree(B(0x62, 0x05, 0xa0, 0x03, 0x81, 0x30, 'M'),
				VD_TLV_MAX_DEPTH), -EBADMSG, "inner TLV runs past its parent");
	tap_is(vd_tlv_check_tree(B(0x62, 0x04, 0xa0, 0x05, 0x80, 0x01, 0x00),
				VD_TLV_MAX_DEPTH), -EBADMSG, "child longer than its parent");
	/* 1000 nested templates, lengths all consistent: refused at depth 5,
	 * without recursion (built from the inside out) */
	start = sizeof(bomb);
	for (i = 0; i < 1000; i++) {
		size_t inner = sizeof(bomb) - start;

		if (inner < 0x80) {
			bomb[--start] = (uint8_t)inner;
		} else if (inner < 0x100) {
			bomb[--start] = (uint8_t)inner;
			bomb[--start] = 0x81;
		} else {
			bomb[--start] = inner & 0xff;
			bomb[--start] = inner >> 8;
			bomb[--start] = 0x82;
		}
		bomb[--start] = 0xa0;
	}
	tap_is(vd_tlv_check_tree(bomb + start, sizeof(bomb) - start, VD_TLV_MAX_DEPTH),
			-EBADMSG, "nesting bomb refused");
	tap_is(vd_tlv_check_tree(bomb + sizeof(bomb) - 2 * 4, 2 * 4, VD_TLV_MAX_DEPTH), 0,
			"its innermost 4 levels alone are fine");
	tap_is(vd_tlv_check_tree(B(0x80, 0x00), VD_TLV_MAX_DEPTH + 1), -EBADMSG,
			"a depth above the stack is refused");
}

static void test_total_size(void)
{
	tap_is(vd_tlv_total_size(B(0x61, 0x03, 0x80, 0x01)), 5, "size from a partial file");
	tap_is(vd_tlv_total_size(B(0x62, 0x82, 0x40, 0x00)), 16388, "over-long size still told");
	tap_is(vd_tlv_total_size(B(0x62)), -EAGAIN, "header incomplete");
	tap_is(vd_tlv_total_size(B(0x62, 0x82, 0x40)), -EAGAIN, "length bytes incomplete");
	tap_is(vd_tlv_total_size(B(0x62, 0x80)), -EBADMSG, "indefinite length");
	tap_is(vd_tlv_total_size(NULL, 0), -EBADMSG, "no buffer");
}

int main(void)
{
	test_headers();
	test_iter();
	test_tree();
	test_total_size();
	return tap_done();
}
