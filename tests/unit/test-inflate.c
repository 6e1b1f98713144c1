/*
 * Capped inflate: round trips, caps, bombs, damaged and trailing input.
 *
 * Linked with -Wl,--wrap=malloc: while `watching`, the largest block the
 * library asks for is kept, so a bomb is shown to cost cap + 1 bytes of
 * output buffer, not just to fail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "internal.h"
#include "tap.h"

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static bool watching;
static size_t largest;

void *__wrap_malloc(size_t size)
{
	if (watching && size > largest)
		largest = size;
	return __real_malloc(size);
}

static uint8_t *compress_buf(const uint8_t *in, size_t len, size_t *out_len)
{
	uLongf n = compressBound(len);
	uint8_t *out = malloc(n);

	if (!out || compress2(out, &n, in, len, 9) != Z_OK)
		abort();
	*out_len = n;
	return out;
}

int main(void)
{
	static const uint8_t raw_deflate[] = { 0x4b, 0x4c, 0x4a, 0x06, 0x00 };
	size_t zlen, olen, big = 16u << 20;
	uint8_t *data, *z, *out;
	size_t i;

	data = malloc(big);
	if (!data)
		abort();
	for (i = 0; i < 1000; i++)
		data[i] = (uint8_t)(i * 7 + 3);

	z = compress_buf(data, 1000, &zlen);
	tap_ok(!vd_inflate(z, zlen, 1000, &out, &olen) && olen == 1000 &&
			!memcmp(out, data, 1000), "round trip at exactly the cap");
	free(out);
	tap_is(vd_inflate(z, zlen, 999, &out, &olen), -EFBIG, "one byte over the cap");
	tap_ok(!out && !olen, "nothing handed out on failure");
	tap_is(vd_inflate(z, zlen - 1, 64 * 1024, &out, &olen), -EBADMSG,
			"truncated stream (no checksum)");
	z[zlen - 1] ^= 1;
	tap_is(vd_inflate(z, zlen, 64 * 1024, &out, &olen), -EBADMSG, "bad Adler-32");
	z[zlen - 1] ^= 1;
	z = realloc(z, zlen + 1);
	z[zlen] = 0;
	tap_is(vd_inflate(z, zlen + 1, 64 * 1024, &out, &olen), -EBADMSG,
			"bytes after the stream");
	free(z);

	tap_is(vd_inflate(data, 1000, 64 * 1024, &out, &olen), -EBADMSG,
			"uncompressed input");
	tap_is(vd_inflate(raw_deflate, sizeof(raw_deflate), 64 * 1024, &out, &olen),
			-EBADMSG, "raw deflate without the zlib header");
	tap_is(vd_inflate(data, 0, 64 * 1024, &out, &olen), -EBADMSG, "empty input");

	/* A bomb: 16 MiB of zeros in about 16 KiB. */
	memset(data, 0, big);
	z = compress_buf(data, big, &zlen);
	tap_ok(zlen < 32 * 1024, "bomb is small (%zu bytes)", zlen);
	watching = true;
	largest = 0;
	tap_is(vd_inflate(z, zlen, 64 * 1024, &out, &olen), -EFBIG,
			"bomb refused at the 64 KiB cap");
	watching = false;
	tap_ok(largest == 64 * 1024 + 1, "... its largest allocation is cap + 1 (%zu bytes)",
			largest);
	tap_ok(!vd_inflate(z, zlen, big, &out, &olen) && olen == big,
			"the same stream inflates when the cap allows it");
	free(out);
	free(z);

	z = compress_buf(data, 0, &zlen);
	tap_ok(!vd_inflate(z, zlen, 0, &out, &olen) && olen == 0, "empty payload, cap 0");
	free(out);
	free(z);
	free(data);
	return tap_done();
}
