/*
 * The text envelope shared by our QR tokens and HCERT:
 * prefix + base45(zlib(COSE)).  Each failure says which step broke.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

int vd_envelope_open(const uint8_t *text, size_t len, const char *prefix,
		size_t cap, uint8_t **cose, size_t *cose_len,
		struct vd_verdict *why, const char **step)
{
	size_t plen = strlen(prefix), zlen, zsize;
	uint8_t *zbuf;
	int ret;

	*cose = NULL;
	*cose_len = 0;
	if (len < plen || memcmp(text, prefix, plen)) {
		*step = "unprefix";
		vd_verdict_set(why, VD_STATUS_UNSUPPORTED,
				"not a %.*s document (wrong context prefix)",
				(int)(plen - 1), prefix);
		return -EPROTO;
	}
	text += plen;
	len -= plen;
	/* base45 is 3 characters per 2 bytes: anything longer than that of
	 * a compressed cap is a bomb or junk, refused before decoding. */
	if (len / 3 > cap) {
		*step = "base45";
		vd_verdict_set(why, VD_STATUS_MALFORMED, "document too long");
		return -EBADMSG;
	}
	zsize = VD_BASE45_MAX_DECODED(len);
	zbuf = malloc(zsize);
	if (!zbuf) {
		*step = "base45";
		vd_verdict_set(why, VD_STATUS_READ_FAILED, "out of memory");
		return -ENOMEM;
	}
	ret = vd_base45_decode((const char *)text, len, zbuf, zsize, &zlen);
	if (ret) {
		*step = "base45";
		vd_verdict_set(why, VD_STATUS_MALFORMED, "invalid base45 text");
		goto out;
	}
	ret = vd_inflate(zbuf, zlen, cap, cose, cose_len);
	if (ret == -EFBIG) {
		*step = "inflate";
		vd_verdict_set(why, VD_STATUS_MALFORMED,
				"inflates past the %zu byte limit", cap);
		ret = -EBADMSG;
	} else if (ret == -ENOMEM) {
		*step = "inflate";
		vd_verdict_set(why, VD_STATUS_READ_FAILED, "out of memory");
	} else if (ret) {
		*step = "inflate";
		vd_verdict_set(why, VD_STATUS_MALFORMED, "invalid zlib data");
	}
out:
	/* compressed, but the personal data all the same */
	OPENSSL_cleanse(zbuf, zsize);
	free(zbuf);
	return ret;
}
