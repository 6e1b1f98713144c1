/*
 * Verdicts, read results, settings and the shared verification context.
 *
 * A read result is the only container of personal data: it is allocated
 * here and wiped here, so no caller needs to remember how.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "vitaled-core.h"
#include "internal.h"

static const char *const status_names[VD_STATUS_COUNT] = {
	[VD_STATUS_VERIFIED] = "verified",
	[VD_STATUS_FORGED] = "forged",
	[VD_STATUS_UNTRUSTED] = "untrusted",
	[VD_STATUS_EXPIRED] = "expired",
	[VD_STATUS_NOT_YET_VALID] = "not-yet-valid",
	[VD_STATUS_REVOKED] = "revoked",
	[VD_STATUS_CLONE_SUSPECTED] = "clone-suspected",
	[VD_STATUS_OPPOSED] = "opposed",
	[VD_STATUS_TEST_CARD] = "test-card",
	[VD_STATUS_MALFORMED] = "malformed",
	[VD_STATUS_UNVERIFIABLE] = "unverifiable",
	[VD_STATUS_REPLAYED] = "replayed",
	[VD_STATUS_UNSUPPORTED] = "unsupported",
	[VD_STATUS_READ_FAILED] = "read-failed",
};

const char *vd_status_name(enum vd_status status)
{
	if ((unsigned int)status >= VD_STATUS_COUNT)
		return "unknown";
	return status_names[status];
}

int vd_status_from_name(const char *name)
{
	unsigned int i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < VD_STATUS_COUNT; i++)
		if (!strcmp(status_names[i], name))
			return (int)i;
	return -EINVAL;
}

void vd_verdict_set(struct vd_verdict *verdict, enum vd_status status,
		const char *fmt, ...)
{
	va_list ap;

	verdict->status = status;
	va_start(ap, fmt);
	vsnprintf(verdict->reason, sizeof(verdict->reason), fmt, ap);
	va_end(ap);
}

const char *vd_form_factor_name(enum vd_form_factor form)
{
	switch (form) {
	case VD_FORM_CARD:
		return "card";
	case VD_FORM_PHONE_NFC:
		return "phone-nfc";
	case VD_FORM_PHONE_QR:
		return "phone-qr";
	case VD_FORM_LEGACY_CARD:
		return "legacy-card";
	}
	return "unknown";
}

const char *vd_marker_name(enum vd_marker marker)
{
	switch (marker) {
	case VD_MARKER_PRODUCTION:
		return "production";
	case VD_MARKER_TEST:
		return "test";
	case VD_MARKER_DEMO:
		return "demo";
	}
	return "unknown";
}

struct vd_read_result *vd_read_result_new(void)
{
	struct vd_read_result *result = calloc(1, sizeof(*result));

	/* A fresh result must never look verified (status 0) by accident. */
	if (result)
		vd_verdict_set(&result->verdict, VD_STATUS_READ_FAILED,
				"not verified yet");
	return result;
}

void vd_read_result_drop_record(struct vd_read_result *result)
{
	if (!result)
		return;
	OPENSSL_cleanse(&result->record, sizeof(result->record));
	result->has_record = false;
}

void vd_read_result_free(struct vd_read_result *result)
{
	if (!result)
		return;
	OPENSSL_cleanse(result, sizeof(*result));
	free(result);
}

void vd_settings_default(struct vd_settings *settings)
{
	memset(settings, 0, sizeof(*settings));
	settings->allow_test_cards = false;
	/* as vitaled.conf's [Tokens] defaults (daemon/config.c) */
	settings->clock_skew = 30;
	settings->token_max_age = 120;
	settings->token_max_inflated = 64 * 1024;
	settings->read_timeout_ms = 5000;
}

struct vd_context {
	atomic_uint refs;
	struct vd_trust *trust;
	struct vd_settings settings;
};

struct vd_context *vd_context_new(struct vd_trust *trust,
		const struct vd_settings *settings)
{
	struct vd_context *ctx;

	if (!trust)
		return NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	atomic_init(&ctx->refs, 1);
	ctx->trust = vd_trust_ref(trust);
	if (settings)
		ctx->settings = *settings;
	else
		vd_settings_default(&ctx->settings);
	return ctx;
}

struct vd_context *vd_context_ref(struct vd_context *ctx)
{
	if (ctx)
		atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return ctx;
}

void vd_context_unref(struct vd_context *ctx)
{
	if (!ctx)
		return;
	/* acq_rel: the last owner must see every other owner's writes. */
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
	vd_trust_unref(ctx->trust);
	free(ctx);
}

struct vd_trust *vd_context_trust(const struct vd_context *ctx)
{
	return ctx->trust;
}

const struct vd_settings *vd_context_settings(const struct vd_context *ctx)
{
	return &ctx->settings;
}

int vd_record_policy(const struct vd_context *ctx, const struct vd_record *record,
		struct vd_verdict *why)
{
	if (vd_trust_is_opposed(ctx->trust, record->card_serial)) {
		vd_verdict_set(why, VD_STATUS_OPPOSED,
				"card is on the opposition list");
		return -EPERM;
	}
	if (record->marker != VD_MARKER_PRODUCTION && !ctx->settings.allow_test_cards) {
		vd_verdict_set(why, VD_STATUS_TEST_CARD,
				"%s card refused (test cards not allowed)",
				vd_marker_name(record->marker));
		return -EPERM;
	}
	return 0;
}
