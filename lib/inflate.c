/*
 * zlib inflation with a hard output cap.
 *
 * A few hundred bytes of QR code can claim megabytes of output (a "zlib
 * bomb").  We never allocate more than cap + 1 bytes and stop as soon as
 * the output would pass the cap, so memory and time stay proportional to
 * the cap, whatever the input says.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <zlib.h>

#include "internal.h"

/*
 * The output is personal data, and so is zlib's window (the last 32 KiB of
 * it): both are wiped before they are freed.  zlib's own allocations keep
 * their size in front of them so they can be.
 */
union zhead {
	size_t size;
	max_align_t align;
};

static voidpf zalloc_wiped(voidpf opaque, uInt items, uInt size)
{
	union zhead *h;

	(void)opaque;
	if (size && items > (SIZE_MAX - sizeof(*h)) / size)
		return Z_NULL;
	h = malloc(sizeof(*h) + (size_t)items * size);
	if (!h)
		return Z_NULL;
	h->size = (size_t)items * size;
	return h + 1;
}

static void zfree_wiped(voidpf opaque, voidpf address)
{
	union zhead *h = (union zhead *)address - 1;

	(void)opaque;
	OPENSSL_cleanse(address, h->size);
	free(h);
}

/* realloc() would leave the old copy behind when it moves the block. */
static uint8_t *grow(uint8_t *buf, size_t used, size_t size)
{
	uint8_t *nbuf = malloc(size);

	if (nbuf && buf) {
		memcpy(nbuf, buf, used);
		OPENSSL_cleanse(buf, used);
	}
	if (nbuf)
		free(buf);
	return nbuf;
}

int vd_inflate(const uint8_t *in, size_t len, size_t cap, uint8_t **out,
		size_t *out_len)
{
	z_stream zs = { 0 };
	uint8_t *buf = NULL;
	size_t size, limit;
	int ret, zret;

	*out = NULL;
	*out_len = 0;
	/* One byte past the cap tells "exactly cap" from "more than cap". */
	if (len > UINT_MAX || cap >= UINT_MAX)
		return -EFBIG;
	limit = cap + 1;
	size = len * 4 < 1024 ? 1024 : len * 4;
	if (size > limit)
		size = limit;

	zs.zalloc = zalloc_wiped;
	zs.zfree = zfree_wiped;
	if (inflateInit(&zs) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;

	for (;;) {
		if (!buf || zs.total_out == size) {
			uint8_t *nbuf;

			if (buf) {
				if (size == limit) {
					ret = -EFBIG;
					goto out;
				}
				size = size > limit / 2 ? limit : size * 2;
			}
			nbuf = grow(buf, zs.total_out, size);
			if (!nbuf) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nbuf;
		}
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(size - zs.total_out);
		zret = inflate(&zs, Z_NO_FLUSH);
		if (zret == Z_STREAM_END)
			break;
		if (zret == Z_OK)
			continue;
		/* Z_BUF_ERROR with output room left: the input ran out. */
		if (zret == Z_BUF_ERROR && zs.avail_out == 0)
			continue;
		ret = zret == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
		goto out;
	}
	if (zs.total_out > cap) {
		ret = -EFBIG;
		goto out;
	}
	/* Bytes after the stream would be unsigned, unchecked data. */
	if (zs.avail_in) {
		ret = -EBADMSG;
		goto out;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
	ret = 0;
out:
	inflateEnd(&zs);
	if (buf)
		OPENSSL_cleanse(buf, zs.total_out);
	free(buf);
	return ret;
}
