/*
 * The host's log: stderr, which Chromium and Firefox keep in their own log,
 * and syslog (authpriv: refusals are the admin's business).  Callers pass
 * origins, uids, codes and lengths, never what a card holds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "bridge.h"

void bridge_log_init(void)
{
	openlog("vitaled-web-bridge", LOG_PID, LOG_AUTHPRIV);
}

void bridge_log(int priority, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vitaled-web-bridge: %s\n", buf);
	syslog(priority, "%s", buf);
}
