/*
 * vitaled-web-bridge: started by the browser for one page's connection,
 * it lives until the browser closes its stdin.  One poll loop over stdin
 * and the bus connection; no thread, no socket of its own (doc/web.md).
 */
#include <errno.h>
#include <libintl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

#define _(s)	gettext(s)

static struct frame_in in;

/* Reads from the browser; false once the host is to exit with *status. */
static bool from_browser(struct session *s, int *status)
{
	enum frame_status st = frame_read(&in, STDIN_FILENO);
	enum handle_result r;
	const char *body;
	size_t len;

	switch (st) {
	case FRAME_MORE:
		return true;
	case FRAME_READY:
		body = frame_body(&in, &len);
		r = session_handle(s, body, len);
		frame_consume(&in);
		*status = r == HANDLE_EXIT_OK ? 0 : 1;
		return r == HANDLE_CONTINUE;
	case FRAME_EOF:
		*status = 0;	/* the browser closed the port */
		return false;
	case FRAME_TRUNCATED:
		bridge_log(LOG_NOTICE, "stdin closed inside a message (%zu bytes)", in.len);
		*status = 1;
		return false;
	case FRAME_TOO_LARGE:
		/* The rest cannot be skipped safely: say why, then go. */
		bridge_log(LOG_WARNING, "refused: message over %d bytes", BRIDGE_MAX_IN);
		session_error(s, -1, "too-large", "messages to the host are limited to 64 KiB");
		*status = 1;
		return false;
	case FRAME_ERROR:
		bridge_log(LOG_ERR, "reading stdin: %s", strerror(errno));
		break;
	}
	*status = 1;
	return false;
}

static int run(void)
{
	struct session s = { .out = STDOUT_FILENO };
	struct pollfd pfd[2];
	int status = 0, ret;
	nfds_t n;

	for (;;) {
		if (s.vitaled) {
			/* also what blocking calls queued meanwhile */
			ret = vitaled_dispatch(s.vitaled);
			if (ret < 0) {
				bridge_log(LOG_NOTICE, "%s", ret == -ENOTCONN ?
						"the system bus went away" : "stdout closed");
				status = 1;
				break;
			}
		}
		pfd[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		n = 1;
		if (s.vitaled) {
			pfd[1] = (struct pollfd){ .fd = vitaled_fd(s.vitaled), .events = POLLIN };
			n = 2;
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			status = 1;
			break;
		}
		if (pfd[0].revents && !from_browser(&s, &status))
			break;
	}
	vitaled_free(s.vitaled);
	return status;
}

int main(int argc, char **argv)
{
	/* The browser passes the caller's extension origin (Chromium) or the
	 * manifest path and extension id (Firefox): nothing to act on, since
	 * the host manifest already names the one extension allowed. */
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("vitaled-web-bridge %s (protocol %d)\n", PACKAGE_VERSION, BRIDGE_PROTOCOL);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--help")) {
		/* for the admin who runs it by hand; only here, since the
		 * protocol and the log (strerror too) stay English */
		const char *dir = getenv(BRIDGE_LOCALEDIR_ENV);

		setlocale(LC_ALL, "");
		bindtextdomain(PACKAGE, dir && *dir ? dir : LOCALEDIR);
		textdomain(PACKAGE);
		printf(_("Usage: vitaled-web-bridge\n\n"
				"The native-messaging host of vitaled's browser extension: the\n"
				"browser starts it and speaks to it on stdin/stdout (doc/web.md).\n"
				"Origins allowed: %s/web.d/*.conf (or $%s).\n"),
				CONFIGDIR, BRIDGE_ALLOW_DIR_ENV);
		return 0;
	}
	/* A browser that goes away must not kill us mid-write with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	bridge_log_init();
	return run();
}
