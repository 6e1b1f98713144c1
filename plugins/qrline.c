/*
 * One scanned code at a time, for every scanner kind.  The text of a QR
 * token carries personal data (compressed, but readable), so the buffer is
 * wiped as soon as a code has been handed on or dropped (one passed on to
 * other software, a millisecond later: hold()).  It is allocated
 * at a scanner's first code and freed when the scanner goes: scanners
 * plugged in and never used (a counter may have a dozen) hold no 4 KiB.
 *
 * A scanner sends a code in one burst.  A code cut short (a serial line
 * glitch, a scanner reset mid-code) would otherwise be glued to the next
 * scan, and the next patient's valid code would read malformed: a partial
 * code is dropped after the scanner's CodeGap of silence.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins.h"

#define QR_BURST	8	/* codes accepted back to back */
#define QR_REFILL_MS	250	/* then one more every so often */
#define QR_HOLD_MS	1	/* a code passed on waits for the loop to sleep once */

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
	line->aim[0] = '\0';
	line->ended++;
}

static bool partial(const struct qr_line *line)
{
	return line->len || line->overflow;
}

/* Whichever sees the silence first, the timer or the next bytes, drops
 * the partial code: the timer so that it is not kept, the bytes in case
 * the loop ran late.  The timer is not stopped at each end of code (a
 * burst of codes would add and remove one per code): when it fires with
 * nothing partial it just goes. */
static bool gap_passed(struct qr_line *line, uint64_t now)
{
	if (!line->gap_ms || !partial(line) || now - line->last_ms < line->gap_ms)
		return false;
	vitaled_warn("reader %s: %llu ms of silence in the middle of a code; partial code dropped",
			vitaled_reader_id(line->reader), (unsigned long long)(now - line->last_ms));
	wipe(line);
	return true;
}

static void gap_fired(void *user_data)
{
	struct qr_line *line = user_data;
	uint64_t now = now_ms();

	line->gap_timer = NULL;		/* a fired timer is freed by the loop */
	if (partial(line) && !gap_passed(line, now))
		line->gap_timer = vitaled_timer_add(line->gap_ms - (unsigned int)(now - line->last_ms),
				gap_fired, line);
}

void qr_line_init(struct qr_line *line, struct vitaled_reader *reader, unsigned int gap_ms)
{
	memset(line, 0, sizeof(*line));
	line->reader = reader;
	line->gap_ms = gap_ms;
	line->budget = QR_BURST;
	line->refilled_ms = now_ms();
}

void qr_line_check_gap(struct qr_line *line)
{
	gap_passed(line, now_ms());
}

/* Only a code still partial once the bytes at hand are used needs the
 * timer: a code that came whole in one read never arms it. */
static void arm_gap(struct qr_line *line)
{
	if (line->gap_ms && !line->gap_timer && partial(line))
		line->gap_timer = vitaled_timer_add(line->gap_ms, gap_fired, line);
}

static void put(struct qr_line *line, const uint8_t *data, size_t len)
{
	uint64_t now;

	if (!len)
		return;
	now = now_ms();
	gap_passed(line, now);
	line->last_ms = now;
	if (line->overflow)
		return;
	if (len > QR_CODE_MAX - line->len) {
		vitaled_warn("reader %s: code longer than %d bytes dropped; waiting for the next one",
				vitaled_reader_id(line->reader), QR_CODE_MAX);
		if (line->buf)
			explicit_bzero(line->buf, line->len);
		line->len = 0;
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

void qr_line_put(struct qr_line *line, const uint8_t *data, size_t len)
{
	put(line, data, len);
	arm_gap(line);
}

void qr_line_set_symbology(struct qr_line *line, const char aim[4])
{
	memcpy(line->aim, aim, sizeof(line->aim));
	line->aim[sizeof(line->aim) - 1] = '\0';
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

static void hand_over(struct qr_line *line)
{
	vitaled_timer_remove(line->held_timer);
	line->held_timer = NULL;
	if (!line->held_len)
		return;
	vitaled_code_submit(line->reader, line->held, line->held_len, line->held_aim);
	explicit_bzero(line->held, line->held_len);
	line->held_len = 0;
}

static void held_fired(void *user_data)
{
	struct qr_line *line = user_data;

	line->held_timer = NULL;	/* a fired timer is freed by the loop */
	hand_over(line);
}

/*
 * The software sharing the scanner gets a code passed on through the
 * kernel: a pty's line goes through the tty layer's worker thread, a
 * virtual keyboard's events wake their reader, and the kernel wakes
 * either on this CPU, where it waits while the daemon runs.  What the
 * daemon does with the code next (the count, the OtherCode signal, which
 * wakes dbus-daemon on this CPU too) took ~150 us before that worker ran
 * (perf sched, doc/performance.md): it waits until the loop has slept
 * once.  The buffers are swapped, not copied.
 */
static void hold(struct qr_line *line)
{
	uint8_t *buf = line->held;

	line->held = line->buf;
	line->held_len = line->len;
	memcpy(line->held_aim, line->aim, sizeof(line->aim));
	line->buf = buf;
	line->len = 0;
	line->held_timer = vitaled_timer_add(QR_HOLD_MS, held_fired, line);
	if (!line->held_timer)
		hand_over(line);
}

static void finish(struct qr_line *line, const uint8_t *end, size_t end_len)
{
	if (!line->overflow && !line->len && end_len && line->passed && line->pass)
		line->pass(line, NULL, 0, end, end_len);
	if (line->overflow || !line->len) {
		line->passed = false;
		wipe(line);
		return;
	}
	line->passed = false;
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
	hand_over(line);	/* codes reach the daemon in the order scanned */
	/* the software sharing the scanner first: it waits on this code */
	if (line->pass && !vd_token_is_vitale(line->buf, line->len)) {
		line->pass(line, line->buf, line->len, end, end_len);
		line->passed = true;
		hold(line);
	} else {
		vitaled_code_submit(line->reader, line->buf, line->len, line->aim);
	}
	wipe(line);
}

void qr_line_end(struct qr_line *line)
{
	finish(line, NULL, 0);
}

static bool is_line_end(uint8_t c)
{
	return c == '\r' || c == '\n';
}

void qr_line_feed_text(struct qr_line *line, const uint8_t *data, size_t len)
{
	while (len) {
		size_t code = 0, end;

		while (code < len && !is_line_end(data[code]))
			code++;
		put(line, data, code);
		if (code == len)
			break;
		/* the line end: CR, LF, CR LF, ... (more are empty lines) */
		for (end = code; end < len && end - code < QR_END_MAX && is_line_end(data[end]); end++)
			;
		finish(line, data + code, end - code);
		len -= end;
		data += end;
	}
	arm_gap(line);
}

void qr_line_abort(struct qr_line *line, const char *why)
{
	if (partial(line))
		vitaled_warn("reader %s: %s in the middle of a code; partial code dropped",
				vitaled_reader_id(line->reader), why);
	wipe(line);
	free(line->buf);
	line->buf = NULL;
	hand_over(line);
	free(line->held);
	line->held = NULL;
	vitaled_timer_remove(line->gap_timer);
	line->gap_timer = NULL;
}
