/* libFuzzer target: the strict BER-TLV reader (lib/tlv.c). */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk every element reachable by iteration, checking it stays inside. */
static void walk(const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size;
	struct vd_tlv_iter it;
	struct vd_tlv t;
	unsigned int n = 0;

	vd_tlv_iter_init(&it, data, size);
	while (vd_tlv_next(&it, &t) == 1 && n++ < 1000) {
		if (t.raw < data || t.raw + t.raw_len > end || t.value + t.len != t.raw + t.raw_len)
			abort();
		/* one level down, as the data-group parsers do */
		if (t.constructed) {
			struct vd_tlv_iter in;
			struct vd_tlv c;

			vd_tlv_iter_init(&in, t.value, t.len);
			while (vd_tlv_next(&in, &c) == 1)
				if (c.value + c.len > t.value + t.len)
					abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vd_tlv t;
	long total;

	walk(data, size);
	if (vd_tlv_parse_one(data, size, &t) == 0 && t.raw_len != size)
		abort();
	if (vd_tlv_check_tree(data, size, VD_TLV_MAX_DEPTH) == 0)
		walk(data, size);
	total = vd_tlv_total_size(data, size);
	if (total >= 0 && vd_tlv_parse_one(data, size, &t) == 0 && (size_t)total != size)
		abort();
	return 0;
}
