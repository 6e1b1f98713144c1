/*
 * libvitaled-core — the verification engine shared by vitaled and vitalectl.
 *
 * It needs no daemon: formats (doc/formats.md), parsers, trust store,
 * chip and token verification, business rules.  Functions return 0 or a
 * negative errno-style code unless said otherwise.  Structures holding
 * personal data are fixed-size so they can be wiped in one go.
 */
#ifndef VITALED_CORE_H
#define VITALED_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* ---- verdicts ------------------------------------------------------- */

enum vd_status {
	VD_STATUS_VERIFIED,
	VD_STATUS_FORGED,		/* bad signature or hash */
	VD_STATUS_UNTRUSTED,		/* signer does not chain to a trusted root */
	VD_STATUS_EXPIRED,
	VD_STATUS_NOT_YET_VALID,
	VD_STATUS_REVOKED,
	VD_STATUS_CLONE_SUSPECTED,	/* active authentication failed */
	VD_STATUS_OPPOSED,		/* serial on the opposition list */
	VD_STATUS_TEST_CARD,		/* test/demo marker, not allowed */
	VD_STATUS_MALFORMED,
	VD_STATUS_UNVERIFIABLE,		/* legacy Vitale 2 identity */
	VD_STATUS_REPLAYED,		/* token id already accepted */
	VD_STATUS_UNSUPPORTED,		/* not a health card / not our token */
	VD_STATUS_READ_FAILED,		/* I/O failed (card pulled, timeout) */
	VD_STATUS_COUNT
};

/* Machine-readable names: "verified", "forged", "not-yet-valid", ... */
const char *vd_status_name(enum vd_status status);
int vd_status_from_name(const char *name);	/* enum value or -EINVAL */

/* The reason is for humans and logs: it never carries personal data. */
struct vd_verdict {
	enum vd_status status;
	char reason[160];
};

void vd_verdict_set(struct vd_verdict *verdict, enum vd_status status,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- data model (doc/formats.md) ------------------------------------ */

#define VD_MAX_BENEFICIARIES	12
#define VD_MAX_PERIODS		8
#define VD_MAX_AMC		2

/* month or day 0: unknown ("lunar" birth dates); year 0: no date */
struct vd_date {
	uint16_t year;
	uint8_t month;
	uint8_t day;
};

struct vd_period {
	struct vd_date start;
	struct vd_date end;	/* year 0: open-ended */
};

struct vd_coverage {
	struct vd_period period;
	char exemption[5];	/* exonération / ALD code */
	char situation[5];	/* code situation */
};

struct vd_amc {
	char organisation[11];	/* numéro d'organisme complémentaire */
	char member[21];	/* numéro d'adhérent */
	char guarantee[9];	/* type de garantie */
	char routing[9];	/* code d'aiguillage */
	struct vd_period period;
};

struct vd_beneficiary {
	char usual_name[65];	/* UTF-8 */
	char birth_name[65];
	char first_name[65];
	struct vd_date birth_date;
	uint8_t birth_rank;	/* 1.. (0 on the card means 1) */
	char qualite[3];	/* "00" assuré, "06" enfant, ... */
	char nir[16];		/* 13 digits/2A/2B + 2-digit key, "" if none */
	bool nir_key_valid;
	unsigned int n_rights;
	struct vd_period rights[VD_MAX_PERIODS];	/* AMO rights */
	unsigned int n_coverage;
	struct vd_coverage coverage[VD_MAX_PERIODS];
	unsigned int n_c2s;
	struct vd_period c2s[VD_MAX_PERIODS];
	unsigned int n_amc;
	struct vd_amc amc[VD_MAX_AMC];
};

enum vd_form_factor {
	VD_FORM_CARD,		/* open-profile contact card */
	VD_FORM_PHONE_NFC,	/* open-profile phone over NFC */
	VD_FORM_PHONE_QR,	/* open-profile QR token */
	VD_FORM_LEGACY_CARD,	/* real Vitale 2, identity only */
};

enum vd_marker {
	VD_MARKER_PRODUCTION,
	VD_MARKER_TEST,
	VD_MARKER_DEMO,
};

struct vd_record {
	enum vd_form_factor form;
	uint8_t version;
	char card_serial[21];
	char issuer[33];
	char regime[3];
	char caisse[4];
	char centre[5];
	char code_gestion[3];
	struct vd_period validity;
	enum vd_marker marker;
	unsigned int n_beneficiaries;
	struct vd_beneficiary beneficiaries[VD_MAX_BENEFICIARIES];
};

const char *vd_form_factor_name(enum vd_form_factor form);	/* "card", "phone-nfc", "phone-qr", "legacy-card" */
const char *vd_marker_name(enum vd_marker marker);		/* "production", "test", "demo" */

/*
 * The outcome of one read.  has_record is set only when the verdict is
 * "verified", or "unverifiable" for a legacy identity: nothing else is
 * ever handed on as data.
 */
struct vd_read_result {
	struct vd_verdict verdict;
	enum vd_form_factor form;
	enum vd_marker marker;
	bool has_record;
	struct vd_record record;
	unsigned int apdu_count;	/* chips: APDUs exchanged */
	uint8_t token_id[16];		/* tokens: unique id (cti) */
	size_t token_id_len;
	time_t expires;			/* tokens: presentation expiry; 0 none */
};

struct vd_read_result *vd_read_result_new(void);
/* Wipes the personal data, then frees.  NULL is fine. */
void vd_read_result_free(struct vd_read_result *result);
/* Wipes the record and clears has_record (used on any failure path). */
void vd_read_result_drop_record(struct vd_read_result *result);

/* ---- business rules ------------------------------------------------- */

/* 15-character NIR (2A/2B allowed): 0 if the key matches, -EINVAL if not
 * or if the text is not a NIR. */
int vd_nir_check(const char *nir);

struct vd_rights_status {
	bool amo_open;
	struct vd_date amo_until;	/* year 0: open-ended or closed */
	bool c2s;
	unsigned int n_coverage;	/* coverages in force on that date */
	const struct vd_coverage *coverage[VD_MAX_PERIODS];
};

void vd_rights_on(const struct vd_beneficiary *beneficiary,
		const struct vd_date *date, struct vd_rights_status *out);
int vd_date_compare(const struct vd_date *a, const struct vd_date *b);
struct vd_date vd_date_from_time(time_t t);	/* UTC */

/* ---- trust store and engine context --------------------------------- */

struct vd_trust;

/* Called for every file that could not be used; the rest still loads. */
typedef void (*vd_trust_report_func)(const char *path, const char *why, void *user_data);

/*
 * Load every *.pem (roots and document-signer certificates), *.crl and
 * the opposition list (opposition.txt: one serial per line) in dir.
 */
int vd_trust_load(const char *dir, vd_trust_report_func report, void *user_data,
		struct vd_trust **out);
struct vd_trust *vd_trust_ref(struct vd_trust *trust);
void vd_trust_unref(struct vd_trust *trust);

struct vd_trust_info {
	unsigned int n_roots;
	unsigned int n_signers;
	unsigned int n_crls;
	unsigned int n_opposed;
	time_t earliest_expiry;		/* of roots and signers; 0 if none */
	time_t earliest_crl_next_update;	/* 0 if no CRL */
};
void vd_trust_get_info(const struct vd_trust *trust, struct vd_trust_info *out);

struct vd_settings {
	bool allow_test_cards;		/* test/demo marker accepted */
	unsigned int clock_skew;	/* seconds tolerated on token times */
	unsigned int token_max_age;	/* seconds a presentation may live */
	size_t token_max_inflated;	/* zlib output cap, bytes */
	unsigned int read_timeout_ms;	/* per chip read */
};

void vd_settings_default(struct vd_settings *settings);

struct vd_replay;	/* persistent replay cache for token ids */

/* What a verification needs; immutable once built, shared by reference. */
struct vd_context;

struct vd_context *vd_context_new(struct vd_trust *trust, const struct vd_settings *settings);
struct vd_context *vd_context_ref(struct vd_context *ctx);
void vd_context_unref(struct vd_context *ctx);
struct vd_trust *vd_context_trust(const struct vd_context *ctx);
const struct vd_settings *vd_context_settings(const struct vd_context *ctx);

/* ---- chips ---------------------------------------------------------- */

/*
 * Card I/O supplied by the source.  transmit() sends one command APDU and
 * returns the full response (data + SW1 SW2) in resp/resp_len (in: size of
 * resp).  It returns 0 or a negative errno: -ENODEV card gone, -ETIMEDOUT,
 * -EIO.  The engine handles 61 XX and 6C XX itself.
 */
struct vd_card_io {
	int (*transmit)(void *io_data, const uint8_t *cmd, size_t cmd_len,
			uint8_t *resp, size_t *resp_len);
	void *io_data;
};

/* Select the profile by ATR and application, read, verify.  Blocking:
 * call it from a worker thread.  Always fills out->verdict. */
void vd_chip_read(struct vd_context *ctx, const struct vd_card_io *io,
		const uint8_t *atr, size_t atr_len, time_t now,
		struct vd_read_result *out);

/* ---- QR tokens ------------------------------------------------------ */

int vd_replay_open(const char *path, size_t max_entries, struct vd_replay **out);
void vd_replay_close(struct vd_replay *replay);
/* NULL, or why the cache file was unusable at open (it was then rebuilt,
 * and tokens issued before that instant count as replayed). */
const char *vd_replay_problem(const struct vd_replay *replay);

/* Is this scanned text a token of this profile, in any version ("VTn:")?
 * Anything else (drug boxes, URLs, a plain EU DCC) is somebody else's code:
 * it is not a card read. */
bool vd_token_is_vitale(const uint8_t *text, size_t len);

/* Verify an open-profile token ("VT1:" ...).  replay may be NULL (no
 * replay check, e.g. vitalectl).  Always fills out->verdict. */
void vd_token_verify(struct vd_context *ctx, struct vd_replay *replay,
		const uint8_t *text, size_t len, time_t now,
		struct vd_read_result *out);

/* ---- QR codes in images (lib/qrimage.c) ------------------------------
 * PNG, JPEG or binary PGM (told apart by content) → 8-bit grey → libzbar
 * in binary mode.  The first QR code's bytes go to out.  Errors: -ENODATA
 * no QR code, -EPROTONOSUPPORT not an image we read, -EINVAL damaged,
 * -EFBIG too large, -ENOBUFS content longer than out_size, -ENOMEM, or
 * what vd_open_regular() gives.
 */
#define VD_IMAGE_MAX_SIDE	8192u			/* pixels */
#define VD_IMAGE_MAX_FILE	(32u * 1024 * 1024)	/* bytes */

int vd_qr_scan_grey(const uint8_t *grey, unsigned int width, unsigned int height,
		uint8_t *out, size_t out_size, size_t *out_len);
int vd_qr_scan_image(const uint8_t *buf, size_t len,
		uint8_t *out, size_t out_size, size_t *out_len);
int vd_qr_scan_file(const char *path, uint8_t *out, size_t out_size, size_t *out_len);
const char *vd_qr_strerror(int err);	/* for the errors above */

/*
 * Plain HCERT ("HC1:" + base45(zlib(COSE_Sign1))) against one signer
 * certificate at one instant (vitalectl token verify --cert --at, and the
 * EU DCC test vectors); the payload is not ours and is not interpreted:
 * cert notBefore <= iat <= at <= exp <= cert notAfter.  Returns the step
 * that failed ("unprefix", "base45", "inflate", "cose", "verify",
 * "expiration"), or NULL when verified; out says why either way.
 */
struct x509_st;
const char *vd_hcert_verify(struct x509_st *signer, const uint8_t *text, size_t len,
		time_t at, size_t max_inflated, struct vd_verdict *out);

/* ---- trust bundles (lib/bundle.c; doc/formats.md section 14) ---------
 * The whole trust set in one CMS SignedData signed by a trust-list signer
 * chaining to a pinned trust-list root (separate from card issuer roots).
 * Errors: -EBADMSG malformed, truncated, bad member or hash; -EKEYREJECTED
 * signature, signer or chain not accepted; -EKEYEXPIRED expired; -ETIME
 * issued in the future; -ERANGE older than the installed version; -ENOMEM.
 * why gets a sentence for humans (no personal data in a bundle).
 */
#define VD_BUNDLE_CONTENT_TYPE	"2.25.278598275296730131776331395509913683680"
#define VD_BUNDLE_MAX_SIZE	(64u * 1024 * 1024)
#define VD_BUNDLE_MAX_MEMBERS	4096u
#define VD_BUNDLE_MAX_MEMBER	(4u * 1024 * 1024)
#define VD_BUNDLE_MAX_NAME	64u

struct vd_bundle;
struct vd_bundle_member {
	const char *name;	/* a trust directory file name */
	const uint8_t *data;	/* borrowed from the bundle */
	size_t len;
	uint8_t sha256[32];
};

struct x509_store_st;
struct evp_pkey_st;
struct stack_st_X509;

/* Every self-signed CA in the *.pem files of dir (a directory that is missing or holds
 * none gives an empty store: nothing verifies). */
int vd_bundle_roots_load(const char *dir, struct x509_store_st **out, unsigned int *n_roots);
/* Signature and chain at now (0: certificate times not checked, for the
 * copy the daemon verified when it installed it), structure, member
 * hashes.  Not the version or times: vd_bundle_check().  The store's
 * verification time is set: one thread at a time per store. */
int vd_bundle_parse(const uint8_t *der, size_t len, struct x509_store_st *roots, time_t now,
		struct vd_bundle **out, char *why, size_t why_len);
/* May b replace the installed version?  0 yes, 1 it is that version
 * (nothing to do), or -EKEYEXPIRED, -ETIME, -ERANGE. */
int vd_bundle_check(const struct vd_bundle *b, uint64_t installed, time_t now,
		unsigned int clock_skew, char *why, size_t why_len);
void vd_bundle_free(struct vd_bundle *b);
uint64_t vd_bundle_version(const struct vd_bundle *b);
time_t vd_bundle_issued(const struct vd_bundle *b);
time_t vd_bundle_expires(const struct vd_bundle *b);
const char *vd_bundle_signer(const struct vd_bundle *b);	/* subject, one line */
size_t vd_bundle_n_members(const struct vd_bundle *b);
const struct vd_bundle_member *vd_bundle_member(const struct vd_bundle *b, size_t i);
/* DER of a signed bundle of these members (names ascending; their sha256
 * is computed here); *out is malloc'd. */
int vd_bundle_build(uint64_t version, time_t issued, time_t expires,
		const struct vd_bundle_member *members, size_t n,
		struct x509_st *signer, struct evp_pkey_st *key, struct stack_st_X509 *chain,
		uint8_t **out, size_t *out_len, char *why, size_t why_len);

/* ---- files named by a user (lib/file.c) ------------------------------
 * Opens path (relative to dfd, or AT_FDCWD) for reading without blocking
 * and only if it is a regular file: the fd (and its size when size is not
 * NULL), or -errno, -EISDIR for a directory, -ESPIPE for a FIFO, device
 * or socket.
 */
int vd_open_regular(int dfd, const char *path, off_t *size);
/* The same as a stdio stream; NULL with *err set. */
FILE *vd_fopen_regular(const char *path, int *err);
/* The whole of a regular file (open on fd, or path) of at most max bytes,
 * malloc'd with a NUL after it (not counted in len): 0, or the errors
 * above, -EFBIG larger than max, -EIO it shrank while read, -ENOMEM. */
int vd_read_fd(int fd, size_t max, uint8_t **out, size_t *len);
int vd_read_regular(int dfd, const char *path, size_t max, uint8_t **out, size_t *len);
const char *vd_open_strerror(int err);	/* for the errors above */

/* ---- configuration file syntax (lib/ini.c) ---------------------------
 * Tokenizes "[Group]" / "Key = Value" files; callbacks decide what is
 * valid.  on_group gets NULL at the start of each file.  Callbacks return
 * 0 or a negative errno, usually from vd_ini_error().
 */
struct vd_ini_parser {
	int (*on_group)(struct vd_ini_parser *p, const char *group);
	int (*on_entry)(struct vd_ini_parser *p, const char *key, const char *value);
	/* optional: "file:line: what" for a group or key given twice in one file */
	void (*on_warning)(struct vd_ini_parser *p, const char *msg);
	void *data;
	bool strict;		/* syntax errors are errors (else skipped) */
	char *err;		/* "file:line: what is wrong" */
	size_t err_len;
	const char *file;	/* where the parser is */
	unsigned int line;
};

int vd_ini_parse_file(struct vd_ini_parser *p, const char *path, bool missing_ok);
/* *.conf in dir, in name order; a missing dir is fine. */
int vd_ini_parse_dropins(struct vd_ini_parser *p, const char *dir);
int vd_ini_error(struct vd_ini_parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Is name an item of a comma/space separated list? */
bool vd_list_contains(const char *list, const char *name);

#endif
