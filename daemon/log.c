/*
 * Logging to stderr.  Under systemd (JOURNAL_STREAM set) each line gets a
 * "<N>" syslog priority prefix that journald parses; otherwise plain lines.
 * Callers pass reader ids, verdicts and counts — never personal data.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"

static enum log_level max_level = LOG_LEVEL_INFO;
static bool journal;

void log_init(enum log_level level)
{
	max_level = level;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

static void log_line(enum log_level level, int priority, const char *fmt, va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	char buf[1024];

	if (level > max_level)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One write per line keeps lines whole when threads log at once. */
	if (journal)
		fprintf(stderr, "<%d>%s\n", priority, buf);
	else
		fprintf(stderr, "vitaled: %s%s\n", prefix[level], buf);
}

#define DEFINE_LOG(fname, level, priority) \
void fname(const char *fmt, ...) \
{ \
	va_list ap; \
	va_start(ap, fmt); \
	log_line(level, priority, fmt, ap); \
	va_end(ap); \
}

DEFINE_LOG(vitaled_error, LOG_LEVEL_ERROR, LOG_ERR)
DEFINE_LOG(vitaled_warn, LOG_LEVEL_WARN, LOG_WARNING)
DEFINE_LOG(vitaled_info, LOG_LEVEL_INFO, LOG_INFO)
DEFINE_LOG(vitaled_debug, LOG_LEVEL_DEBUG, LOG_DEBUG)

void log_audit(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (journal)
		fprintf(stderr, "<%d>audit: %s\n", LOG_NOTICE, buf);
	else
		fprintf(stderr, "vitaled: audit: %s\n", buf);
}
