/*
 * libFuzzer target: the CBOR cursor.  Skips the input as one item, then
 * walks it flat with every typed getter, as the COSE and CWT parsers do.
 */
#include <stdlib.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vd_cbor c;
	size_t guard;

	vd_cbor_init(&c, data, size);
	if (!vd_cbor_skip(&c) && (c.pos < data || c.pos > data + size))
		abort();

	vd_cbor_init(&c, data, size);
	for (guard = 0; !vd_cbor_at_end(&c) && guard <= size; guard++) {
		const uint8_t *before = c.pos, *p;
		const char *s;
		uint64_t tag;
		int64_t v;
		size_t n;
		int ret;

		switch (vd_cbor_peek(&c)) {
		case VD_CBOR_UINT:
		case VD_CBOR_NEGINT:
			ret = vd_cbor_get_int(&c, &v);
			break;
		case VD_CBOR_BSTR:
			ret = vd_cbor_get_bstr(&c, &p, &n);
			if (!ret && (p < data || p + n > data + size))
				abort();
			break;
		case VD_CBOR_TSTR:
			ret = vd_cbor_get_tstr(&c, &s, &n);
			break;
		case VD_CBOR_ARRAY:
			ret = vd_cbor_get_array(&c, &n);
			if (!ret && n > size)
				abort();
			break;
		case VD_CBOR_MAP:
			ret = vd_cbor_get_map(&c, &n);
			if (!ret && n > size / 2)
				abort();
			break;
		case VD_CBOR_TAG:
			ret = vd_cbor_get_tag(&c, &tag);
			break;
		default:
			ret = vd_cbor_get_time(&c, &v);
			if (ret)
				ret = vd_cbor_skip(&c);
			break;
		}
		if (ret) {
			if (c.pos != before)
				abort();	/* failures leave the cursor alone */
			break;
		}
		if (c.pos <= before)
			abort();		/* progress on success */
	}
	return 0;
}
