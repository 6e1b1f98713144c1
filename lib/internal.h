/*
 * Declarations shared between the files of lib/ (not used outside lib/,
 * tests and fuzz targets).  Sections are owned by their area: edit yours
 * with small targeted changes.
 */
#ifndef VITALED_LIB_INTERNAL_H
#define VITALED_LIB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/types.h>

#include "vitaled-core.h"

/* ---- BER-TLV (tlv.c) ------------------------------------------------- */

#define VD_TLV_MAX_DEPTH	4	/* doc/formats.md: data groups nest at most 4 deep */
#define VD_TLV_MAX_TAG_BYTES	3
#define VD_TLV_MAX_LEN_BYTES	3	/* 82 xx xx / 83 xx xx xx */

struct vd_tlv {
	uint32_t tag;		/* tag bytes big-endian: 0x61, 0x7F21, ... */
	bool constructed;
	const uint8_t *value;
	size_t len;
	const uint8_t *raw;	/* the whole element: tag + length + value */
	size_t raw_len;
};

struct vd_tlv_iter {
	const uint8_t *pos;
	const uint8_t *end;
};

void vd_tlv_iter_init(struct vd_tlv_iter *it, const uint8_t *buf, size_t len);
/* 1: out holds the next element; 0: end of buffer; -EBADMSG: malformed */
int vd_tlv_next(struct vd_tlv_iter *it, struct vd_tlv *out);
/* Exactly one element filling the buffer: 0 or -EBADMSG. */
int vd_tlv_parse_one(const uint8_t *buf, size_t len, struct vd_tlv *out);
/* The whole buffer is a well-formed sequence of TLV trees nested at most
 * max_depth deep (explicit stack, no recursion): 0 or -EBADMSG. */
int vd_tlv_check_tree(const uint8_t *buf, size_t len, unsigned int max_depth);
/* Bytes a TLV header needs in front of a value of len bytes, from the
 * first bytes of a file: total declared size (header + value) or -EBADMSG,
 * -EAGAIN if more bytes are needed to know. */
long vd_tlv_total_size(const uint8_t *buf, size_t len);

/* ---- data groups (datagroups.c) -------------------------------------- */

#define VD_DG_MAX	16	/* DG numbers 1..15 */
#define VD_DG_MAX_SIZE	8192

/* Borrowed data group files as read (outer tag + length + value). */
struct vd_dg_set {
	struct {
		const uint8_t *data;	/* NULL: absent */
		size_t len;
	} dg[VD_DG_MAX];
};

/* DG1..DG4 → record (DG1 and DG2 mandatory).  0, or -EBADMSG with why
 * set to malformed and a reason without personal data.  out is wiped on
 * failure. */
int vd_record_parse_dgs(const struct vd_dg_set *dgs, enum vd_form_factor form,
		struct vd_record *out, struct vd_verdict *why);
/* DG15 file → EC P-256 public key, or NULL with why set to malformed. */
EVP_PKEY *vd_dg15_public_key(const uint8_t *dg15, size_t len, struct vd_verdict *why);
/* Legacy Vitale 2: identity file (65: 80 surname, 81 first name, 82 birth
 * date) and NIR file (65: 93 NIR) → one beneficiary.  0 or -EBADMSG. */
int vd_record_parse_legacy(const uint8_t *ident, size_t ident_len, const uint8_t *nir,
		size_t nir_len, struct vd_record *out, struct vd_verdict *why);

/* ---- EF.SOD (sod.c) -------------------------------------------------- */

struct vd_sod_lite;

struct vd_sod {
	struct vd_sod_lite *lite;	/* decoded without its certificates (sod.c) */
	CMS_ContentInfo *cms;		/* the CMS decoder's view, when needed */
	const uint8_t *der;		/* the ContentInfo, borrowed from the file */
	size_t der_len;
	const EVP_MD *md;		/* from the eContent */
	unsigned int hash_len;
	struct {
		bool listed;
		uint8_t hash[64];
	} dg[VD_DG_MAX];
};

/* Structure only: outer 77, DER CMS SignedData, our eContentType, the
 * hash list listing at least DG1, DG2 and DG15.  0, or -EBADMSG with
 * why = malformed (sod then cleared). */
int vd_sod_parse(const uint8_t *file, size_t len, struct vd_sod *sod, struct vd_verdict *why);
/* Signer chain at now (cached), then the CMS signature: 0, or -EPERM with
 * why = untrusted / expired / not-yet-valid / revoked / forged. */
int vd_sod_verify(struct vd_sod *sod, struct vd_trust *trust, time_t now,
		struct vd_verdict *why);
/* Every listed data group is present and matches its hash: 0 or -EPERM
 * with why = forged.  Unlisted ones are not looked at. */
int vd_sod_check_dgs(const struct vd_sod *sod, const struct vd_dg_set *dgs,
		struct vd_verdict *why);
void vd_sod_clear(struct vd_sod *sod);

/* ---- chips (chip-verify.c, chip.c) ----------------------------------- */

/* Everything a chip read gathers, borrowed. */
struct vd_chip_image {
	enum vd_form_factor form;	/* VD_FORM_CARD or VD_FORM_PHONE_NFC */
	struct vd_dg_set dgs;		/* DG1..DG4, DG15 as read */
	const uint8_t *sod;		/* EF.SOD file */
	size_t sod_len;
	const uint8_t *challenge;	/* INTERNAL AUTHENTICATE challenge */
	size_t challenge_len;
	const uint8_t *aa_signature;	/* raw r‖s, NULL if the chip gave none */
	size_t aa_signature_len;
};

/* Verify an image (no I/O): fills out->verdict, form, marker, and the
 * record with has_record only when verified. */
void vd_chip_verify_image(struct vd_context *ctx, const struct vd_chip_image *img,
		time_t now, struct vd_read_result *out);
/* The same with img->sod already parsed by vd_sod_parse() (kept by the
 * caller). */
void vd_chip_verify_sod(struct vd_context *ctx, const struct vd_chip_image *img,
		struct vd_sod *sod, time_t now, struct vd_read_result *out);

/* ---- trust store (trust.c) ------------------------------------------- */

#define VD_KID_LEN	8

/* kid = first 8 bytes of SHA-256 of the certificate DER: 0 or -EINVAL. */
int vd_cert_kid(X509 *cert, uint8_t kid[VD_KID_LEN]);
/* Document-signer certificates with this kid (borrowed, valid while the
 * caller holds a reference on trust): how many exist; up to max stored. */
size_t vd_trust_find_signers(const struct vd_trust *trust,
		const uint8_t kid[VD_KID_LEN], X509 **out, size_t max);
/*
 * Chain of signer (a certificate from the store or one carried by a
 * document) to a trusted root at time now, with CRLs: 0, or -EPERM and
 * why = untrusted / expired / not-yet-valid / revoked.  Successful
 * validations are cached with the time window they hold for, so the same
 * signer costs no chain validation next time.  Thread-safe.
 */
int vd_trust_check_signer(struct vd_trust *trust, X509 *signer, time_t now,
		struct vd_verdict *why);
/* The store's document-signer certificate a CMS SignerInfo names, or NULL. */
X509 *vd_trust_signer_of(const struct vd_trust *trust, CMS_SignerInfo *si);
/* The same from an issuerAndSerialNumber's two halves. */
X509 *vd_trust_signer_by_ias(const struct vd_trust *trust, const X509_NAME *issuer,
		const ASN1_INTEGER *serial);
/* Whether der is, byte for byte, the DER of that store signer. */
bool vd_trust_signer_der_equal(const struct vd_trust *trust, const X509 *signer,
		const uint8_t *der, int len);
/* For a document signer of the store (as vd_trust_signer_of returns it)
 * with an EC key: a context of its own, ready for EVP_PKEY_verify with
 * that key (free it with EVP_PKEY_CTX_free); else NULL. */
EVP_PKEY_CTX *vd_trust_signer_verify_ctx(const struct vd_trust *trust, const X509 *signer);
/* Full chain validations done so far (cache misses): tests and bench
 * check that a repeat signer costs none. */
unsigned int vd_trust_chain_validations(struct vd_trust *trust);
/*
 * vd_trust_load(), telling the visitor about every certificate and CRL the
 * store took (name: the file in dir; objects borrowed for the call), in
 * load order, so that a tool lists what the daemon loads, not its own
 * reading of the files.
 */
struct vd_trust_visitor {
	void (*cert)(const char *name, X509 *cert, bool root, void *user_data);
	void (*crl)(const char *name, X509_CRL *crl, void *user_data);
};
int vd_trust_load_visit(const char *dir, vd_trust_report_func report,
		const struct vd_trust_visitor *visit, void *user_data, struct vd_trust **out);
/* Roots (and CRLs) as an X509_STORE for CMS_verify; borrowed. */
X509_STORE *vd_trust_store(const struct vd_trust *trust);
bool vd_trust_is_opposed(const struct vd_trust *trust, const char *serial);

/* ---- policy after the signatures (result.c) -------------------------- */

/* Opposition list, then test/demo marker: 0, or -EPERM with why set. */
int vd_record_policy(const struct vd_context *ctx, const struct vd_record *record,
		struct vd_verdict *why);

/* ---- digests fetched once (digest.c) --------------------------------- */

/* SHA-256, SHA-384 or SHA-512 by NID, fetched once for the process and
 * shared by all threads; NULL for any other NID. */
const EVP_MD *vd_digest(int nid);

/* ---- ECDSA with raw r‖s signatures (ecsig.c) -------------------------- */

/* Verify a raw r‖s ECDSA signature (2 × field size bytes) over msg with
 * digest md: 0 good, -EBADMSG bad signature, -EINVAL unusable input. */
int vd_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg,
		size_t msg_len, const uint8_t *sig, size_t sig_len);

/* ---- codec: base45.c, inflate.c, cbor.c, cose.c, replay.c (H-B) ------- */

/* Strict RFC 9285 base45: 0 or -EBADMSG (foreign character, length
 * = 1 mod 3, chunk > 0xFFFF, last pair > 0xFF), -ENOBUFS if out is too
 * small (VD_BASE45_MAX_DECODED(len) bytes always suffice). */
#define VD_BASE45_MAX_DECODED(len)	((len) / 3 * 2 + 1)
int vd_base45_decode(const char *in, size_t len, uint8_t *out, size_t out_size,
		size_t *out_len);

/* zlib stream (RFC 1950) to a new buffer of at most cap bytes: 0,
 * -EFBIG if it would inflate past cap (memory and time stay bounded by
 * cap), -EBADMSG if corrupt, truncated or followed by other bytes,
 * -ENOMEM. */
int vd_inflate(const uint8_t *in, size_t len, size_t cap, uint8_t **out,
		size_t *out_len);

/* Strict CBOR subset (RFC 8949): definite lengths only, no recursion;
 * every length is checked against what is left of the buffer.  The
 * getters return 0, or -EBADMSG (wrong type, truncated, out of range);
 * the cursor only moves on success. */
enum vd_cbor_major {
	VD_CBOR_UINT, VD_CBOR_NEGINT, VD_CBOR_BSTR, VD_CBOR_TSTR,
	VD_CBOR_ARRAY, VD_CBOR_MAP, VD_CBOR_TAG, VD_CBOR_SIMPLE,
};

struct vd_cbor {
	const uint8_t *pos;
	const uint8_t *end;
};

void vd_cbor_init(struct vd_cbor *c, const uint8_t *buf, size_t len);
bool vd_cbor_at_end(const struct vd_cbor *c);
/* Major type of the next item, or -EBADMSG at the end. */
int vd_cbor_peek(const struct vd_cbor *c);
int vd_cbor_get_int(struct vd_cbor *c, int64_t *v);
int vd_cbor_get_bstr(struct vd_cbor *c, const uint8_t **p, size_t *len);
/* Text without NUL bytes (so it can become a C string). */
int vd_cbor_get_tstr(struct vd_cbor *c, const char **p, size_t *len);
int vd_cbor_get_array(struct vd_cbor *c, size_t *n);
int vd_cbor_get_map(struct vd_cbor *c, size_t *n);
int vd_cbor_get_tag(struct vd_cbor *c, uint64_t *tag);
/* A NumericDate: integer, or a finite float (seen in real HCERTs),
 * truncated to whole seconds. */
int vd_cbor_get_time(struct vd_cbor *c, int64_t *t);
/* Skip one well-formed item of any shape (iteratively). */
int vd_cbor_skip(struct vd_cbor *c);

/* COSE_Sign1 (RFC 9052), optionally tagged 61 (CWT) and/or 18; the
 * pointers borrow the input buffer. */
#define VD_COSE_ES256	(-7)
#define VD_COSE_PS256	(-37)

struct vd_cose_sign1 {
	const uint8_t *protected_hdr;	/* bstr contents as received */
	size_t protected_len;
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *signature;
	size_t signature_len;
	int64_t alg;			/* protected, else unprotected; 0 */
	bool alg_protected;
	const uint8_t *kid;		/* protected, else unprotected; NULL */
	size_t kid_len;
	bool kid_protected;
};

/* 0 or -EBADMSG. */
int vd_cose_sign1_parse(const uint8_t *buf, size_t len, struct vd_cose_sign1 *out);
/* Signature over the Sig_structure with key: 0 good, -EBADMSG bad
 * signature, -EINVAL algorithm missing/unsupported or not matching the
 * key type, -ENOMEM. */
int vd_cose_sign1_verify(const struct vd_cose_sign1 *msg, EVP_PKEY *key);

/*
 * Context prefix ("VT1:", "HC1:"), strict base45, capped inflate: the
 * COSE bytes in a new buffer, or -EPROTO wrong prefix (why: unsupported),
 * -EBADMSG (why: malformed).  *step names the step that failed.
 */
int vd_envelope_open(const uint8_t *text, size_t len, const char *prefix,
		size_t cap, uint8_t **cose, size_t *cose_len,
		struct vd_verdict *why, const char **step);

/* Replay cache: 0 id remembered until `until` (persisted before
 * returning), -EEXIST already seen, -ESTALE issued before the cache was
 * last rebuilt from a corrupt file, or valid only until a time the cache
 * has already forgotten ids up to (the clock went back): it may have been
 * seen; -ENOSPC full
 * of live ids, -EIO cannot persist (the id is then not accepted).
 * Thread-safe. */
int vd_replay_check_and_add(struct vd_replay *replay, const uint8_t *id,
		size_t len, time_t issued, time_t until, time_t now);

/* ---- trust bundles (bundle.c) ----------------------------------------- */

/* The eContent alone (the fuzz target's entry): structure, names, hashes. */
int vd_bundle_decode_manifest(const uint8_t *der, size_t len, struct vd_bundle **out,
		char *why, size_t why_len);

#endif
