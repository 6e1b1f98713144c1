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
/* Roots (and CRLs) as an X509_STORE for CMS_verify; borrowed. */
X509_STORE *vd_trust_store(const struct vd_trust *trust);
bool vd_trust_is_opposed(const struct vd_trust *trust, const char *serial);

/* ---- policy after the signatures (result.c) -------------------------- */

/* Opposition list, then test/demo marker: 0, or -EPERM with why set. */
int vd_record_policy(const struct vd_context *ctx, const struct vd_record *record,
		struct vd_verdict *why);

/* ---- ECDSA with raw r‖s signatures (ecsig.c) -------------------------- */

/* Verify a raw r‖s ECDSA signature (2 × field size bytes) over msg with
 * digest md: 0 good, -EBADMSG bad signature, -EINVAL unusable input. */
int vd_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg,
		size_t msg_len, const uint8_t *sig, size_t sig_len);

#endif
