/*
 * vitalectl: the admin's tool for vitaled — readers, cards, tokens, trust.
 */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vitaled/dbus.h>
#include "vitalectl.h"

struct command {
	const char *name;
	int (*func)(int argc, char **argv, const struct vitalectl_opts *opts);
	const char *help;
};

static const struct command commands[] = {
	{ "status", cmd_status, N_("daemon, pcscd, trust store and sources at a glance") },
	{ "readers", cmd_readers, N_("readers, scanners and cameras: kind, state, stable id") },
	{ "watch", cmd_watch, N_("live events: readers, cards, verdicts (Ctrl-C to stop)") },
	{ "show", cmd_show, N_("show [CARD] [--date D]: beneficiaries and rights (authorised users)") },
	{ "diag", cmd_diag, N_("checklist of what a read needs, with a fix for each failure") },
	{ "token", cmd_token, N_("token verify STRING|--file F|--image IMG: decode and verify a QR token") },
	{ "trust", cmd_trust, N_("trust list [--dir DIR] | install BUNDLE: trust material, signed bundles") },
	{ NULL, NULL, NULL }
};

static void usage(FILE *out)
{
	const struct command *c;

	fprintf(out, _("Usage: vitalectl [--json] [--session] [--config FILE] COMMAND [ARGS]\n\n"
			"Commands:\n"));
	for (c = commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, _(c->help));
	fprintf(out, _("\nOptions:\n"
			"  --json      machine-readable output\n"
			"  --session   talk to a vitaled on the session bus\n"
			"  --config F  vitaled.conf to read (diag, trust, token; default %s)\n"
			"  --help      this help\n"
			"  --version   version\n\n"
			"Exit status: 0 ok, 1 failed check or verification, 2 usage,\n"
			"3 daemon not reachable, 4 not authorised.\n"), CONFIGDIR "/vitaled.conf");
}

DBusConnection *vitalectl_bus(const struct vitalectl_opts *opts)
{
	DBusConnection *conn;
	DBusError err;

	dbus_error_init(&err);
	conn = dbus_bus_get_private(opts->session_bus ? DBUS_BUS_SESSION : DBUS_BUS_SYSTEM, &err);
	if (!conn) {
		fprintf(stderr, opts->session_bus ?
				_("vitalectl: cannot connect to the session bus: %s\n") :
				_("vitalectl: cannot connect to the system bus: %s\n"),
				err.message);
		dbus_error_free(&err);
		return NULL;
	}
	dbus_connection_set_exit_on_disconnect(conn, FALSE);
	return conn;
}

/* The user's language for messages, dates and numbers.  VITALECTL_LOCALEDIR
 * points an uninstalled vitalectl at the build tree's catalogues (the tests,
 * HACKING.md). */
static void init_locale(void)
{
	const char *dir = getenv("VITALECTL_LOCALEDIR");

	setlocale(LC_ALL, "");
	bindtextdomain(PACKAGE, dir && *dir ? dir : LOCALEDIR);
	textdomain(PACKAGE);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "session", no_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct vitalectl_opts opts = { 0 };
	const struct command *c;
	const char *no_color = getenv("NO_COLOR");
	int opt;

	init_locale();
	/* Options before the command are global; the rest belong to it. */
	while ((opt = getopt_long(argc, argv, "+jsc:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			opts.json = true;
			break;
		case 's':
			opts.session_bus = true;
			break;
		case 'c':
			opts.config = optarg;
			break;
		case 'h':
			usage(stdout);
			return VITALECTL_OK;
		case 'V':
			printf("vitalectl %s\n", PACKAGE_VERSION);
			return VITALECTL_OK;
		default:
			usage(stderr);
			return VITALECTL_USAGE;
		}
	}
	opts.color = isatty(STDOUT_FILENO) && !(no_color && *no_color) && !opts.json;
	/* --json is for programs: the same words, dates and numbers (a decimal
	 * point) whatever the language, messages on stderr included */
	if (opts.json) {
		setlocale(LC_MESSAGES, "C");
		setlocale(LC_NUMERIC, "C");
		setlocale(LC_TIME, "C");
	}
	if (optind >= argc) {
		usage(stderr);
		return VITALECTL_USAGE;
	}
	for (c = commands; c->name; c++)
		if (!strcmp(c->name, argv[optind])) {
			optind++;
			return c->func(argc - optind + 1, argv + optind - 1, &opts);
		}
	fprintf(stderr, _("vitalectl: unknown command '%s' (see vitalectl --help)\n"),
			argv[optind]);
	return VITALECTL_USAGE;
}
