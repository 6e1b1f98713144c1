/*
 * libFuzzer target: trust bundles (lib/bundle.c).  The input as the
 * signed content (the DER TrustBundle manifest: our own decoding rules,
 * names, order, hashes) and as a whole bundle against an empty root store
 * (OpenSSL's CMS decoding and our envelope checks, refused at the
 * signature).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vd_bundle *b = NULL;
	X509_STORE *roots;
	char why[256];
	size_t i;

	if (vd_bundle_decode_manifest(data, size, &b, why, sizeof(why)) == 0) {
		for (i = 0; i < vd_bundle_n_members(b); i++) {
			const struct vd_bundle_member *m = vd_bundle_member(b, i);

			/* members point into the decoded content, bounded by it */
			if (!m || m->len > size || strlen(m->name) > VD_BUNDLE_MAX_NAME)
				abort();
		}
		if (vd_bundle_check(b, 1, 0, 0, why, sizeof(why)) > 1)
			abort();
		vd_bundle_free(b);
		b = NULL;
	}
	roots = X509_STORE_new();
	if (roots && vd_bundle_parse(data, size, roots, 1800000000, &b, why, sizeof(why)) == 0)
		abort();	/* nothing verifies against no root */
	vd_bundle_free(b);
	X509_STORE_free(roots);
	return 0;
}
