/* libFuzzer target: strict base45 decoding. */
#include <stdlib.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = VD_BASE45_MAX_DECODED(size), len = 0;
	uint8_t *out = malloc(cap);

	if (!out)
		return 0;
	if (!vd_base45_decode((const char *)data, size, out, cap, &len) &&
			len != size / 3 * 2 + (size % 3 ? 1 : 0))
		abort();	/* the length follows from the input length */
	/* A buffer one byte short must be refused, never overrun. */
	if (len && vd_base45_decode((const char *)data, size, out, len - 1, &len) == 0)
		abort();
	free(out);
	return 0;
}
