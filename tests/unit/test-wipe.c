/*
 * Buffers that held a token's personal data are wiped before they are
 * freed: the compressed document, the inflated one (and zlib's window),
 * the COSE Sig_structure, on success and on every failure.
 *
 * Linked with -Wl,--wrap=free,--wrap=realloc: every free() and realloc()
 * the library makes passes here first, and a block still holding the
 * canary (a NIR-like string planted in the document) is counted.  A
 * realloc() of such a block counts too: when it moves the block, the old
 * copy is freed inside libc, unwiped.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "internal.h"
#include "tap.h"

#define CANARY "NIR-1800375056123-CANARY"

void __real_free(void *p);
void __wrap_free(void *p);
void *__real_realloc(void *p, size_t size);
void *__wrap_realloc(void *p, size_t size);

static unsigned int unwiped;

static bool holds_canary(void *p)
{
	return p && memmem(p, malloc_usable_size(p), CANARY, strlen(CANARY));
}

void __wrap_free(void *p)
{
	if (holds_canary(p))
		unwiped++;
	__real_free(p);
}

void *__wrap_realloc(void *p, size_t size)
{
	if (holds_canary(p))
		unwiped++;
	return __real_realloc(p, size);
}

/* The test's own copies are wiped too, so only the library's count. */
static void wipe_free(void *p, size_t len)
{
	if (p)
		OPENSSL_cleanse(p, len);
	free(p);
}

/* A document: the canary among filler, like a name among claims. */
static uint8_t *document(size_t len)
{
	uint8_t *d = malloc(len);
	size_t i;

	if (!d)
		abort();
	for (i = 0; i < len; i++)
		d[i] = (uint8_t)('a' + i % 26);
	memcpy(d + 16, CANARY, strlen(CANARY));
	return d;
}

static uint8_t *deflate_buf(const uint8_t *in, size_t len, int level, size_t *out_len)
{
	uLongf n = compressBound(len);
	uint8_t *out = malloc(n);

	if (!out || compress2(out, &n, in, len, level) != Z_OK)
		abort();
	*out_len = n;
	return out;
}

static char *base45(const char *prefix, const uint8_t *in, size_t len)
{
	static const char set[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
	size_t plen = strlen(prefix), i;
	char *out = malloc(plen + len / 2 * 3 + 3), *p;

	if (!out)
		abort();
	memcpy(out, prefix, plen);
	p = out + plen;
	for (i = 0; i + 1 < len; i += 2) {
		unsigned int n = in[i] * 256u + in[i + 1];

		*p++ = set[n % 45];
		*p++ = set[n / 45 % 45];
		*p++ = set[n / 2025];
	}
	if (i < len) {
		*p++ = set[in[i] % 45];
		*p++ = set[in[i] / 45];
	}
	*p = '\0';
	return out;
}

/* COSE_Sign1 [<<{1: -7}>>, {}, payload, 64 zero bytes] */
static size_t cose(const uint8_t *payload, size_t len, uint8_t *out)
{
	static const uint8_t head[] = { 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x58 };
	uint8_t *p = out;

	memcpy(p, head, sizeof(head));
	p += sizeof(head);
	*p++ = (uint8_t)len;
	memcpy(p, payload, len);
	p += len;
	*p++ = 0x58;
	*p++ = 64;
	memset(p, 0, 64);
	return (size_t)(p + 64 - out);
}

static void test_inflate(void)
{
	size_t zlen, olen, big = 64 * 1024;
	uint8_t *doc = document(big), *z, *out;

	/* compressible: the output buffer grows several times */
	z = deflate_buf(doc, big, 9, &zlen);
	unwiped = 0;
	tap_ok(!vd_inflate(z, zlen, big, &out, &olen) && olen == big &&
			!memcmp(out, doc, big), "a growing inflate round trips");
	wipe_free(out, olen);
	tap_is(unwiped, 0, "... its outgrown buffers and zlib's window are wiped");

	unwiped = 0;
	tap_is(vd_inflate(z, zlen, big - 1, &out, &olen), -EFBIG, "one byte over the cap");
	tap_is(unwiped, 0, "... what was inflated is wiped");

	unwiped = 0;
	tap_is(vd_inflate(z, zlen - 8, big, &out, &olen), -EBADMSG, "a truncated stream");
	tap_is(unwiped, 0, "... what was inflated is wiped");
	wipe_free(z, zlen);
	wipe_free(doc, big);
}

static void test_envelope(struct vd_context *ctx)
{
	uint8_t *doc = document(200), *z, msg[300];
	struct vd_read_result *res = vd_read_result_new();
	EVP_PKEY *key = EVP_EC_gen("P-256");
	struct vd_cose_sign1 parsed;
	struct vd_verdict why;
	size_t zlen, mlen;
	char *text;

	if (!res || !key)
		abort();
	/* stored blocks: the canary is in the compressed bytes too */
	z = deflate_buf(doc, 200, 0, &zlen);
	text = base45("HC1:", z, zlen);
	unwiped = 0;
	vd_hcert_verify(NULL, (const uint8_t *)text, strlen(text), 0, 4096, &why);
	tap_is(why.status, VD_STATUS_MALFORMED, "an HCERT that is not COSE is malformed");
	tap_is(unwiped, 0, "... its compressed and inflated copies are wiped");
	wipe_free(text, strlen(text));

	text = base45("VT1:", z, zlen);
	unwiped = 0;
	vd_token_verify(ctx, NULL, (const uint8_t *)text, strlen(text), 0, res);
	tap_is(res->verdict.status, VD_STATUS_MALFORMED, "a token that is not COSE is malformed");
	tap_is(unwiped, 0, "... its compressed and inflated copies are wiped");
	wipe_free(text, strlen(text));
	wipe_free(z, zlen);

	mlen = cose(doc, 200, msg);
	unwiped = 0;
	tap_ok(!vd_cose_sign1_parse(msg, mlen, &parsed) &&
			vd_cose_sign1_verify(&parsed, key) == -EBADMSG,
			"a COSE_Sign1 with a bad signature is refused");
	tap_is(unwiped, 0, "... its Sig_structure, a copy of the payload, is wiped");

	OPENSSL_cleanse(msg, sizeof(msg));
	wipe_free(doc, 200);
	EVP_PKEY_free(key);
	vd_read_result_free(res);
}

/* The record itself: a name at either end of it is gone once the read is
 * dropped, and once it is freed (the whole result, not a pointer's worth). */
static void test_record(void)
{
	struct vd_read_result *res = vd_read_result_new();
	struct vd_beneficiary *first, *last;

	if (!res)
		abort();
	first = &res->record.beneficiaries[0];
	last = &res->record.beneficiaries[VD_MAX_BENEFICIARIES - 1];
	strcpy(first->usual_name, CANARY);
	strcpy(last->usual_name, CANARY);
	res->has_record = true;
	vd_read_result_drop_record(res);
	tap_ok(!res->has_record && !holds_canary(res), "a dropped record is wiped");

	strcpy(first->usual_name, CANARY);
	strcpy(last->usual_name, CANARY);
	res->has_record = true;
	unwiped = 0;
	vd_read_result_free(res);
	tap_is(unwiped, 0, "a freed read result is wiped, first to last beneficiary");
}

int main(void)
{
	char dir[] = "/tmp/test-wipe-XXXXXX";
	struct vd_context *ctx;
	struct vd_trust *trust;

	if (!mkdtemp(dir) || vd_trust_load(dir, NULL, NULL, &trust))
		abort();
	ctx = vd_context_new(trust, NULL);
	vd_trust_unref(trust);
	if (!ctx)
		abort();
	test_inflate();
	test_envelope(ctx);
	test_record();
	vd_context_unref(ctx);
	rmdir(dir);
	return tap_done();
}
