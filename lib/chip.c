/*
 * Reading a chip: profile selection, READ BINARY by short EF id, INTERNAL
 * AUTHENTICATE; verification is vd_chip_verify_image() (chip-verify.c).
 *
 * APDU economy: the ATR only orders the SELECT attempts (the application
 * that answers decides the profile); EF.SOD is read first so only the
 * data groups it lists are read (no 6A 82 round trips for absent ones);
 * READ BINARY asks for the exact remainder once the TLV length is known.
 *
 * Any I/O error gives read-failed and no record; a card answering
 * nonsense is malformed.  Every buffer holding card data is wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "internal.h"

#define SW_OK		0x9000
#define RESP_MAX	(256 + 2)
#define MAX_CHAINED	16	/* 61 XX / 6C XX follow-ups per command */
#define CHALLENGE_LEN	32
#define AA_SIG_LEN	64
#define LEGACY_MAX	256
/* Le asking for a file's header only: a one-byte tag and a length of up
 * to 82 xx xx (the profile's files; a legacy template is shorter). */
#define HEADER_LE	4

enum { SFI_DG1 = 0x01, SFI_DG2 = 0x02, SFI_DG3 = 0x03, SFI_DG4 = 0x04,
	SFI_DG15 = 0x0f, SFI_SOD = 0x1d };

static const uint8_t card_aid[] = { 0xf0, 'V', 'I', 'T', 'A', 'L', 'E', 'D', 'C', '1' };
static const uint8_t phone_aid[] = { 0xf0, 'V', 'I', 'T', 'A', 'L', 'E', 'D', 'P', '1' };
static const uint8_t legacy_aid[] = { 0xd2, 0x50, 0x00, 0x00, 0x02, 'V', 'I', 'T', 'A', 'L', 'E' };

enum profile { PROFILE_CARD, PROFILE_PHONE, PROFILE_LEGACY, PROFILE_COUNT };

struct chip {
	const struct vd_card_io *io;
	struct vd_read_result *out;
	struct timespec deadline;
	bool has_deadline;
	uint8_t resp[RESP_MAX];
	/* files as read: data groups by number (index 0 holds EF.SOD) */
	uint8_t files[VD_DG_MAX][VD_DG_MAX_SIZE];
	size_t lens[VD_DG_MAX];
	uint8_t legacy[2][LEGACY_MAX];
	size_t legacy_len[2];
	uint8_t challenge[CHALLENGE_LEN];
	uint8_t aa_sig[AA_SIG_LEN];
	size_t aa_sig_len;
	/* the card answered 67 00 to Le=00 (read_file): said in the verdict */
	unsigned int wrong_length_sw;	/* its answer to the header read then */
	uint8_t wrong_length_sfi;
};

/* -EIO, -ENODEV, -ETIMEDOUT: I/O; -EBADMSG: the card answered nonsense;
 * -ENOENT: file or application not found. */
static bool io_error(int err)
{
	return err != -EBADMSG && err != -ENOENT && err != -EFBIG && err != -ENODATA;
}

static bool past_deadline(const struct chip *c)
{
	struct timespec now;

	if (!c->has_deadline)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > c->deadline.tv_sec ||
		(now.tv_sec == c->deadline.tv_sec && now.tv_nsec > c->deadline.tv_nsec);
}

/* One exchange; *sw and *len (data bytes in c->resp) on success. */
static int exchange(struct chip *c, const uint8_t *cmd, size_t cmd_len, size_t *len,
		unsigned int *sw)
{
	size_t n = sizeof(c->resp);
	int err;

	if (past_deadline(c))
		return -ETIMEDOUT;
	c->out->apdu_count++;
	err = c->io->transmit(c->io->io_data, cmd, cmd_len, c->resp, &n);
	if (err < 0)
		return err;
	/* no status word: the card went away mid-answer */
	if (n < 2 || n > sizeof(c->resp))
		return -EIO;
	*sw = (c->resp[n - 2] << 8) | c->resp[n - 1];
	*len = n - 2;
	return 0;
}

/*
 * A command with an Le byte (last byte of cmd): follows 61 XX with GET
 * RESPONSE and 6C XX by resending with Le = XX.  Data collected into out
 * (at most max bytes).  Returns the final SW or a negative errno.
 */
static int transceive(struct chip *c, const uint8_t *cmd, size_t cmd_len, uint8_t *out,
		size_t max, size_t *out_len)
{
	uint8_t again[5 + 255 + 1];
	const uint8_t *cur = cmd;
	size_t len, got = 0;
	unsigned int sw, i;
	int err;

	if (cmd_len > sizeof(again))
		return -EINVAL;
	for (i = 0; i < MAX_CHAINED; i++) {
		err = exchange(c, cur, cmd_len, &len, &sw);
		if (err < 0)
			return err;
		if (len > max - got)
			return -EBADMSG;	/* more than asked for */
		memcpy(out + got, c->resp, len);
		got += len;
		if ((sw & 0xff00) == 0x6100) {
			/* T=0: more data waiting: GET RESPONSE */
			static const uint8_t get_response[4] = { 0x00, 0xc0, 0x00, 0x00 };

			memcpy(again, get_response, 4);
			again[4] = sw & 0xff;
			cur = again;
			cmd_len = 5;
			continue;
		}
		if ((sw & 0xff00) == 0x6c00 && got == 0 && cur == cmd) {
			/* wrong Le: resend with the one the card wants */
			memcpy(again, cmd, cmd_len);
			again[cmd_len - 1] = sw & 0xff;
			cur = again;
			continue;
		}
		break;
	}
	OPENSSL_cleanse(c->resp, sizeof(c->resp));
	if (i == MAX_CHAINED)
		return -EBADMSG;
	*out_len = got;
	return (int)sw;
}

/* Status words by which a card says "no such application or file". */
static bool sw_not_found(unsigned int sw)
{
	switch (sw) {
	case 0x6700: case 0x6985: case 0x6986: case 0x6999: case 0x6a00:
	case 0x6a81: case 0x6a82: case 0x6a86: case 0x6a87: case 0x6b00:
	case 0x6d00: case 0x6e00:
		return true;
	}
	return false;
}

/*
 * SELECT (by AID, or the MF by file id).  61 XX also means selected: the
 * FCI waiting behind it is not needed, so it is not fetched.  A status
 * word no card would give, or data with an error, is nonsense (-EBADMSG).
 */
static int select_file(struct chip *c, uint8_t p1, const uint8_t *id, size_t id_len,
		bool with_le)
{
	uint8_t cmd[5 + 16 + 1] = { 0x00, 0xa4, p1, 0x00, (uint8_t)id_len };
	size_t len, cmd_len = 5 + id_len;
	unsigned int sw;
	int err;

	memcpy(cmd + 5, id, id_len);
	if (with_le)
		cmd[cmd_len++] = 0x00;
	err = exchange(c, cmd, cmd_len, &len, &sw);
	OPENSSL_cleanse(c->resp, sizeof(c->resp));
	if (err < 0)
		return err;
	if (sw == SW_OK || ((sw & 0xff00) == 0x6100 && len == 0))
		return 0;
	return sw_not_found(sw) && len == 0 ? -ENOENT : -EBADMSG;
}

/*
 * READ BINARY of a whole file holding one TLV: the first command by SFI,
 * then by offset in the now-current EF, each asking for the exact rest.
 * Some T=0 cards (Vitale 2 among them) answer 67 00 to Le=00 instead of
 * 6C XX: the header alone is asked for then, and its length gives the
 * exact Le of the rest.
 */
static int read_file(struct chip *c, uint8_t sfi, uint8_t *buf, size_t max, size_t *len)
{
	uint8_t cmd[5] = { 0x00, 0xb0, 0x80 | sfi, 0x00, 0x00 };
	size_t got = 0, n, total = 0;
	int sw;

	for (;;) {
		sw = transceive(c, cmd, sizeof(cmd), buf + got, max - got, &n);
		if (sw < 0)
			return sw;
		if (sw == 0x6a82 && got == 0)
			return -ENOENT;
		if (got == 0 && cmd[4] == 0x00 && sw == 0x6700 && n == 0) {
			c->wrong_length_sfi = sfi;
			c->wrong_length_sw = 0;
			cmd[4] = HEADER_LE;	/* only ever set here: the first command has Le=00 */
			continue;
		}
		if (got == 0 && cmd[4] == HEADER_LE && sw != SW_OK && sw != 0x6282)
			c->wrong_length_sw = (unsigned int)sw;	/* the header read failed too */
		/* 62 82: end of file before Le bytes — the data is still good */
		if (sw != SW_OK && sw != 0x6282)
			return -EBADMSG;
		got += n;
		if (!total) {
			long t = vd_tlv_total_size(buf, got);

			if (t < 0)
				return -EBADMSG;	/* not a TLV */
			if ((size_t)t > max)
				return -EFBIG;
			total = t;
		}
		if (got >= total)
			break;
		if (n == 0 || sw == 0x6282 || (cmd[4] && n < cmd[4]) || (!cmd[4] && n < 256))
			return -ENODATA;	/* file shorter than its TLV says */
		cmd[2] = (got >> 8) & 0x7f;
		cmd[3] = got & 0xff;
		cmd[4] = total - got >= 256 ? 0x00 : (uint8_t)(total - got);
	}
	*len = total;	/* bytes after the TLV (padding) are not part of it */
	return 0;
}

static int internal_authenticate(struct chip *c)
{
	uint8_t cmd[5 + CHALLENGE_LEN + 1] = { 0x00, 0x88, 0x00, 0x00, CHALLENGE_LEN };
	int sw;

	if (RAND_bytes(c->challenge, sizeof(c->challenge)) != 1)
		return -EIO;
	memcpy(cmd + 5, c->challenge, CHALLENGE_LEN);
	cmd[sizeof(cmd) - 1] = 0x00;
	sw = transceive(c, cmd, sizeof(cmd), c->aa_sig, sizeof(c->aa_sig), &c->aa_sig_len);
	if (sw < 0 && io_error(sw))
		return sw;
	/* A refusal or nonsense is judged by the verification (clone). */
	if (sw != SW_OK)
		c->aa_sig_len = 0;
	return 0;
}

static void fail(struct chip *c, int err, const char *what)
{
	struct vd_verdict *why = &c->out->verdict;

	vd_read_result_drop_record(c->out);
	if (err == -EBADMSG)
		vd_verdict_set(why, VD_STATUS_MALFORMED, "card answered %s with nonsense", what);
	else if (err == -EFBIG)
		vd_verdict_set(why, VD_STATUS_MALFORMED, "%s declares more than %d bytes", what,
				VD_DG_MAX_SIZE);
	else if (err == -ENODATA)
		vd_verdict_set(why, VD_STATUS_MALFORMED, "%s is shorter than its length says",
				what);
	else if (err == -ENOENT)
		vd_verdict_set(why, VD_STATUS_MALFORMED, "%s not found on the card", what);
	else if (err == -ENODEV)
		vd_verdict_set(why, VD_STATUS_READ_FAILED, "card removed while reading %s", what);
	else if (err == -ETIMEDOUT)
		vd_verdict_set(why, VD_STATUS_READ_FAILED, "timed out reading %s", what);
	else
		vd_verdict_set(why, VD_STATUS_READ_FAILED, "I/O error reading %s (%s)", what,
				strerror(-err));
}

static void read_open_profile(struct chip *c, struct vd_context *ctx, enum vd_form_factor form,
		time_t now)
{
	/* doc/formats.md 5.5: DG1, DG2, DG3 and DG4 if listed, DG15 */
	static const uint8_t order[] = { SFI_DG1, SFI_DG2, SFI_DG3, SFI_DG4, SFI_DG15 };
	struct vd_chip_image img = { .form = form };
	struct vd_sod sod;
	unsigned int i;
	int err;

	/* EF.SOD first: it says which optional data groups exist. */
	err = read_file(c, SFI_SOD, c->files[0], VD_DG_MAX_SIZE, &c->lens[0]);
	if (err < 0)
		return fail(c, err, "EF.SOD");
	if (vd_sod_parse(c->files[0], c->lens[0], &sod, &c->out->verdict) < 0) {
		c->out->form = form;
		return;
	}
	for (i = 0; i < sizeof(order); i++) {
		uint8_t sfi = order[i];

		if (!sod.dg[sfi].listed)
			continue;	/* DG1, DG2, DG15 always are (vd_sod_parse) */
		err = read_file(c, sfi, c->files[sfi], VD_DG_MAX_SIZE, &c->lens[sfi]);
		if (err == -ENOENT)
			continue;	/* absent: judged by the verification */
		if (err < 0) {
			char name[8];

			snprintf(name, sizeof(name), "DG%u", sfi);
			vd_sod_clear(&sod);
			return fail(c, err, name);
		}
		img.dgs.dg[sfi].data = c->files[sfi];
		img.dgs.dg[sfi].len = c->lens[sfi];
	}

	err = internal_authenticate(c);
	if (err < 0) {
		vd_sod_clear(&sod);
		return fail(c, err, "INTERNAL AUTHENTICATE");
	}

	img.sod = c->files[0];
	img.sod_len = c->lens[0];
	img.challenge = c->challenge;
	img.challenge_len = sizeof(c->challenge);
	img.aa_signature = c->aa_sig_len ? c->aa_sig : NULL;
	img.aa_signature_len = c->aa_sig_len;
	vd_chip_verify_sod(ctx, &img, &sod, now, c->out);
	vd_sod_clear(&sod);
}

/* READ BINARY SFI 2 (one command, or three for a card answering 67 00).
 * Any answer but data or an I/O error: not a Vitale card after all. */
static int read_legacy_file(struct chip *c, unsigned int which)
{
	int err = read_file(c, 0x02, c->legacy[which], LEGACY_MAX, &c->legacy_len[which]);

	return err < 0 && !io_error(err) ? -ENOENT : err;
}

/* After SELECT MF answered: identity file, VITALE application, NIR file.
 * -ENOENT when this is not a Vitale card after all. */
static int read_legacy(struct chip *c)
{
	struct vd_read_result *out = c->out;
	int err;

	err = read_legacy_file(c, 0);
	/* An ISO card with an MF but no Vitale identity is not ours. */
	if (!err && (c->legacy_len[0] == 0 || c->legacy[0][0] != 0x65))
		err = -ENOENT;
	if (!err)
		err = select_file(c, 0x04, legacy_aid, sizeof(legacy_aid), false);
	if (!err)
		err = read_legacy_file(c, 1);
	if (err < 0)
		return err;
	if (vd_record_parse_legacy(c->legacy[0], c->legacy_len[0], c->legacy[1],
				c->legacy_len[1], &out->record, &out->verdict) < 0)
		return 0;
	/* Identity only: there is no key to verify it against. */
	vd_verdict_set(&out->verdict, VD_STATUS_UNVERIFIABLE,
			"legacy Vitale 2 identity: cannot be verified offline%s",
			c->wrong_length_sfi ? " (card answered 67 00 to Le=00: read with the "
			"length of the file's header)" : "");
	out->has_record = true;
	return 0;
}

static int select_profile(struct chip *c, enum profile p)
{
	static const uint8_t mf[] = { 0x3f, 0x00 };

	switch (p) {
	case PROFILE_CARD:
		return select_file(c, 0x04, card_aid, sizeof(card_aid), true);
	case PROFILE_PHONE:
		return select_file(c, 0x04, phone_aid, sizeof(phone_aid), true);
	default:
		return select_file(c, 0x00, mf, sizeof(mf), false);
	}
}

static enum vd_form_factor profile_form(enum profile p)
{
	return p == PROFILE_LEGACY ? VD_FORM_LEGACY_CARD :
		p == PROFILE_PHONE ? VD_FORM_PHONE_NFC : VD_FORM_CARD;
}

/* The ATR only says which application to try first. */
static enum profile atr_hint(const uint8_t *atr, size_t len)
{
	static const uint8_t legacy_prefix[] = { 0x3b, 0x75, 0x13, 0x00, 0x00 };
	static const uint8_t contactless[] = { 0x3b, 0x8f, 0x80, 0x01, 0x80, 0x4f };

	if (atr && len == 10 && !memcmp(atr, legacy_prefix, sizeof(legacy_prefix)))
		return PROFILE_LEGACY;
	if (atr && len >= sizeof(contactless) && !memcmp(atr, contactless, sizeof(contactless)))
		return PROFILE_PHONE;
	return PROFILE_CARD;
}

void vd_chip_read(struct vd_context *ctx, const struct vd_card_io *io,
		const uint8_t *atr, size_t atr_len, time_t now,
		struct vd_read_result *out)
{
	const struct vd_settings *settings = vd_context_settings(ctx);
	enum profile order[PROFILE_COUNT], first = atr_hint(atr, atr_len);
	struct chip *c;
	unsigned int i, n = 0;
	bool nonsense = false;	/* some answer made no sense */
	int err = -ENOENT;

	vd_read_result_drop_record(out);
	out->apdu_count = 0;
	out->form = profile_form(first);
	out->marker = VD_MARKER_PRODUCTION;

	c = calloc(1, sizeof(*c));
	if (!c) {
		vd_verdict_set(&out->verdict, VD_STATUS_READ_FAILED, "out of memory");
		return;
	}
	c->io = io;
	c->out = out;
	if (settings->read_timeout_ms) {
		clock_gettime(CLOCK_MONOTONIC, &c->deadline);
		c->deadline.tv_sec += settings->read_timeout_ms / 1000;
		c->deadline.tv_nsec += (long)(settings->read_timeout_ms % 1000) * 1000000;
		if (c->deadline.tv_nsec >= 1000000000) {
			c->deadline.tv_sec++;
			c->deadline.tv_nsec -= 1000000000;
		}
		c->has_deadline = true;
	}

	/* Hinted profile first, then card, phone, legacy. */
	order[n++] = first;
	for (i = 0; i < PROFILE_COUNT; i++)
		if (i != first)
			order[n++] = i;
	for (i = 0; i < n; i++) {
		err = select_profile(c, order[i]);
		/* the profile seen, named by a read that fails from here on */
		if (!err)
			out->form = profile_form(order[i]);
		if (!err && order[i] == PROFILE_LEGACY)
			err = read_legacy(c);
		if (err == -EBADMSG)
			nonsense = true;
		else if (err != -ENOENT)
			break;
		out->form = profile_form(first);
	}
	if (err < 0 && io_error(err)) {
		fail(c, err, "the application selection");
	} else if (err < 0 && nonsense) {
		fail(c, -EBADMSG, "the application selection");
	} else if (err < 0) {
		if (c->wrong_length_sw)
			vd_verdict_set(&out->verdict, VD_STATUS_UNSUPPORTED,
					"no known health-card application on this card (READ "
					"BINARY SFI %02X answered 67 00 to Le=00, then %02X %02X "
					"to Le=%02X)", c->wrong_length_sfi,
					c->wrong_length_sw >> 8, c->wrong_length_sw & 0xff,
					HEADER_LE);
		else
			vd_verdict_set(&out->verdict, VD_STATUS_UNSUPPORTED,
					"no known health-card application on this card");
	} else if (order[i] == PROFILE_LEGACY) {
		/* read_legacy() gave the verdict */
	} else {
		read_open_profile(c, ctx, out->form, now);
	}
	if (!out->has_record)
		vd_read_result_drop_record(out);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}
