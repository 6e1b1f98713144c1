/*
 * One scanned code at a time, for every scanner kind.  The text of a QR
 * token carries personal data (compressed, but readable), so the buffer is
 * wiped as soon as a code has been handed on or dropped.  It is allocated
 * at a scanner's first code and freed when the scanner goes: scanners
 * plugged in and never used (a counter may have a dozen) hold no 4 KiB.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins.h"

#define QR_BURST	8	/* codes accepted back to back */
#define QR_REFILL_MS	250	/* then one more every so often */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wipe(struct qr_line *line)
{
	if (line->buf)
		explicit_bzero(line->buf, line->len);
	line->len = 0;
	line->overflow = false;
}

void qr_line_init(struct qr_line *line, struct vitaled_reader *reader)
{
	memset(line, 0, sizeof(*line));
	line->reader = reader;
	line->budget = QR_BURST;
	line->refilled_ms = now_ms();
}

void qr_line_put(struct qr_line *line, const uint8_t *data, size_t len)
{
	if (line->overflow || !len)
		return;
	if (len > QR_CODE_MAX - line->len) {
		vitaled_warn("reader %s: code longer than %d bytes dropped; waiting for the next one",
				vitaled_reader_id(line->reader), QR_CODE_MAX);
		wipe(line);
		line->overflow = true;
		return;
	}
	if (!line->buf && !(line->buf = malloc(QR_CODE_MAX))) {
		vitaled_warn("reader %s: out of memory; code dropped",
				vitaled_reader_id(line->reader));
		line->overflow = true;
		return;
	}
	memcpy(line->buf + line->len, data, len);
	line->len += len;
}

/* Token bucket: refilled by elapsed time, so it needs no timer. */
static bool take_budget(struct qr_line *line)
{
	uint64_t now = now_ms();
	uint64_t add = (now - line->refilled_ms) / QR_REFILL_MS;

	if (add) {
		line->budget = add >= QR_BURST ? QR_BURST :
			(line->budget + add > QR_BURST ? QR_BURST : line->budget + (unsigned int)add);
		line->refilled_ms += add * QR_REFILL_MS;
	}
	if (!line->budget)
		return false;
	line->budget--;
	return true;
}

void qr_line_end(struct qr_line *line)
{
	if (line->overflow || !line->len) {
		wipe(line);
		return;
	}
	if (!take_budget(line)) {
		if (!line->dropped++)
			vitaled_warn("reader %s: codes arriving faster than anyone scans; dropping",
					vitaled_reader_id(line->reader));
		wipe(line);
		return;
	}
	if (line->dropped) {
		vitaled_warn("reader %s: %lu codes were dropped", vitaled_reader_id(line->reader),
				line->dropped);
		line->dropped = 0;
	}
	vitaled_token_submit(line->reader, line->buf, line->len);
	wipe(line);
}

void qr_line_feed_text(struct qr_line *line, const uint8_t *data, size_t len)
{
	while (len) {
		const uint8_t *cr = memchr(data, '\r', len);
		const uint8_t *lf = memchr(data, '\n', cr ? (size_t)(cr - data) : len);
		const uint8_t *end = lf ? lf : cr;

		if (!end) {
			qr_line_put(line, data, len);
			return;
		}
		qr_line_put(line, data, (size_t)(end - data));
		qr_line_end(line);
		len -= (size_t)(end - data) + 1;
		data = end + 1;
	}
}

void qr_line_abort(struct qr_line *line, const char *why)
{
	if (line->len || line->overflow)
		vitaled_warn("reader %s: %s in the middle of a code; partial code dropped",
				vitaled_reader_id(line->reader), why);
	wipe(line);
	free(line->buf);
	line->buf = NULL;
}
