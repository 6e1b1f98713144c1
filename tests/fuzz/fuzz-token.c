/*
 * libFuzzer target: the whole token path (envelope, both COSE layers,
 * claims, holder key, data groups).  Trust comes from
 * $VD_FUZZ_TRUST (e.g. the test PKI's trust.d) so inputs with a known kid
 * reach the signature checks; without it, an empty store.  No replay
 * cache: the verdict must not depend on earlier inputs.
 */
#include <stdlib.h>

#include "internal.h"

#define FUZZ_NOW	1800000000	/* inside the test PKI's validity */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(const char *path, const char *why, void *user_data)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vd_context *ctx;
	static struct vd_read_result *res;
	const char *dir;

	if (!ctx) {
		struct vd_trust *trust;

		dir = getenv("VD_FUZZ_TRUST");
		if (vd_trust_load(dir ? dir : "/nonexistent/vitaled-fuzz", ignore, NULL, &trust))
			abort();
		ctx = vd_context_new(trust, NULL);
		vd_trust_unref(trust);
		res = vd_read_result_new();
		if (!ctx || !res)
			abort();
	}
	vd_token_verify(ctx, NULL, data, size, FUZZ_NOW, res);
	/* Data only ever travels with a verified verdict. */
	if (res->has_record != (res->verdict.status == VD_STATUS_VERIFIED))
		abort();
	return 0;
}
