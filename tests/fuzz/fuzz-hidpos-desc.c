/* libFuzzer target: HID-POS report descriptors, then a report read with
 * the layout found (the input again, as the report). */
#include <stdlib.h>
#include <string.h>

#include "plugins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hidpos_layout l;
	const uint8_t *out;
	char aim[4];
	size_t len;
	bool more;

	if (hidpos_parse_descriptor(data, size, &l))
		return 0;
	/* the layout must lie inside the report it describes */
	if (l.report_len > HIDPOS_REPORT_MAX || l.data_off + l.data_len > l.report_len ||
	    (l.len_off >= 0 && (size_t)l.len_off >= l.report_len) ||
	    (l.more_bit >= 0 && (size_t)l.more_bit / 8 >= l.report_len) ||
	    (l.sym_off >= 0 && (l.sym_len > 3 || l.sym_off + l.sym_len > l.report_len)))
		abort();
	if (hidpos_report_data(&l, data, size, &out, &len, &more) == 0) {
		if (out < data || len > l.data_len || out + len > data + size)
			abort();
		hidpos_report_symbology(&l, data, aim);
		if (strlen(aim) != 0 && strlen(aim) != 3)
			abort();
	}
	return 0;
}
