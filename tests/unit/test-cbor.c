/* The CBOR subset decoder on good and hostile inputs. */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "tap.h"

#define BUF(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static int skip(const uint8_t *buf, size_t len)
{
	struct vd_cbor c;

	vd_cbor_init(&c, buf, len);
	if (vd_cbor_skip(&c))
		return -EBADMSG;
	return vd_cbor_at_end(&c) ? 0 : -EINVAL;
}

static int get_int(const uint8_t *buf, size_t len, int64_t *v)
{
	struct vd_cbor c;

	vd_cbor_init(&c, buf, len);
	return vd_cbor_get_int(&c, v);
}

static int get_time(const uint8_t *buf, size_t len, int64_t *v)
{
	struct vd_cbor c;

	vd_cbor_init(&c, buf, len);
	return vd_cbor_get_time(&c, v);
}

int main(void)
{
	static uint8_t deep[100000];
	struct vd_cbor c;
	const uint8_t *p;
	const char *s;
	size_t n, len;
	int64_t v;
	uint64_t tag;

	tap_ok(!get_int(BUF(0x17), &v) && v == 23, "uint 23");
	tap_ok(!get_int(BUF(0x19, 0x01, 0x00), &v) && v == 256, "uint 256");
	tap_ok(!get_int(BUF(0x3a, 0x00, 0x01, 0x00, 0x01), &v) && v == -65538,
			"-65538 (our claim key)");
	tap_ok(!get_int(BUF(0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), &v) &&
			v == INT64_MIN, "INT64_MIN");
	tap_is(get_int(BUF(0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0), &v), -EBADMSG,
			"uint beyond INT64_MAX");
	tap_is(get_int(BUF(0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0), &v), -EBADMSG,
			"negative beyond INT64_MIN");
	tap_is(get_int(BUF(0x19, 0x01), &v), -EBADMSG, "truncated argument");
	tap_is(get_int(BUF(0x1c), &v), -EBADMSG, "reserved additional info 28");
	tap_is(get_int(BUF(0x40), &v), -EBADMSG, "bstr is not an int");

	tap_ok(!get_time(BUF(0x1a, 0x60, 0x90, 0x3a, 0x20), &v) && v == 1620064800,
			"integer NumericDate");
	tap_ok(!get_time(BUF(0xfb, 0x41, 0xd8, 0x24, 0x0e, 0x88, 0x00, 0x00, 0x00), &v) &&
			v == 1620064800, "double NumericDate");
	tap_ok(!get_time(BUF(0xfa, 0x4e, 0xc1, 0x20, 0x74), &v) && v == 1620064768,
			"single NumericDate (rounded by float precision)");
	tap_ok(!get_time(BUF(0xf9, 0x3c, 0x00), &v) && v == 1, "half 1.0");
	tap_ok(!get_time(BUF(0xf9, 0x7b, 0xff), &v) && v == 65504, "half 65504 (largest)");
	tap_ok(!get_time(BUF(0xf9, 0x68, 0x00), &v) && v == 2048, "half 2048");
	tap_ok(!get_time(BUF(0xf9, 0xc1, 0x00), &v) && v == -2, "half -2.5 (toward zero)");
	tap_ok(!get_time(BUF(0xf9, 0x03, 0xff), &v) && v == 0, "half subnormal");
	tap_is(get_time(BUF(0xf9, 0x7c, 0x00), &v), -EBADMSG, "half infinity");
	tap_is(get_time(BUF(0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0), &v), -EBADMSG, "NaN");
	tap_is(get_time(BUF(0xfb, 0x54, 0x00, 0, 0, 0, 0, 0, 0), &v), -EBADMSG,
			"a double too large for a time");
	tap_is(get_time(BUF(0xf5), &v), -EBADMSG, "true is not a time");

	vd_cbor_init(&c, BUF(0x43, 'a', 'b', 'c'));
	tap_ok(!vd_cbor_get_bstr(&c, &p, &len) && len == 3 && !memcmp(p, "abc", 3) &&
			vd_cbor_at_end(&c), "bstr");
	vd_cbor_init(&c, BUF(0x44, 'a', 'b', 'c'));
	tap_ok(vd_cbor_get_bstr(&c, &p, &len) == -EBADMSG && c.pos[0] == 0x44,
			"bstr longer than the buffer; cursor not moved");
	vd_cbor_init(&c, BUF(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0));
	tap_is(vd_cbor_get_bstr(&c, &p, &len), -EBADMSG, "bstr of 2^64-1 bytes");
	vd_cbor_init(&c, BUF(0x5f, 0x41, 'a', 0xff));
	tap_is(vd_cbor_get_bstr(&c, &p, &len), -EBADMSG, "indefinite-length bstr");
	vd_cbor_init(&c, BUF(0x62, 'F', 'R'));
	tap_ok(!vd_cbor_get_tstr(&c, &s, &len) && len == 2 && !memcmp(s, "FR", 2), "tstr");
	vd_cbor_init(&c, BUF(0x62, 'F', 0));
	tap_is(vd_cbor_get_tstr(&c, &s, &len), -EBADMSG, "tstr with a NUL");

	vd_cbor_init(&c, BUF(0x9b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0));
	tap_is(vd_cbor_get_array(&c, &n), -EBADMSG, "array count beyond the buffer");
	vd_cbor_init(&c, BUF(0xa2, 1, 2, 3));
	tap_is(vd_cbor_get_map(&c, &n), -EBADMSG, "map of 2 pairs in 3 bytes");
	vd_cbor_init(&c, BUF(0x9f, 0xff));
	tap_is(vd_cbor_get_array(&c, &n), -EBADMSG, "indefinite-length array");
	vd_cbor_init(&c, BUF(0xd2, 0x80));
	tap_ok(!vd_cbor_get_tag(&c, &tag) && tag == 18, "tag 18");

	tap_is(skip(BUF(0xa2, 0x01, 0x82, 0x40, 0x60, 0x20, 0xf6)), 0, "skip a nested map");
	tap_is(skip(BUF(0xd8, 0x3d, 0xd2, 0x80)), 0, "skip tags 61(18([]))");
	tap_is(skip(BUF(0xf8, 0x10)), -EBADMSG, "two-byte simple value < 32");
	tap_is(skip(BUF(0xff)), -EBADMSG, "a lone break");
	tap_is(skip(BUF(0x82, 0x01)), -EBADMSG, "array missing an element");
	tap_is(skip(BUF(0x81, 0x01, 0x02)), -EINVAL, "bytes after the item are left");

	/* 100000 nested arrays: constant stack, linear time. */
	memset(deep, 0x81, sizeof(deep));
	deep[sizeof(deep) - 1] = 0x00;
	tap_is(skip(deep, sizeof(deep)), 0, "100000 levels of nesting skipped without recursion");
	deep[sizeof(deep) - 1] = 0x81;
	tap_is(skip(deep, sizeof(deep)), -EBADMSG, "unterminated nesting refused");
	memset(deep, 0xd8, sizeof(deep));
	tap_is(skip(deep, sizeof(deep)), -EBADMSG, "a chain of truncated tags");
	memset(deep, 0x9a, sizeof(deep));
	tap_is(skip(deep, sizeof(deep)), -EBADMSG, "arrays claiming 2^32 items each");
	return tap_done();
}
