/*
 * vitaled: reads Carte Vitale cards, phones and QR tokens, verifies them
 * offline and publishes the result on D-Bus.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "daemon.h"

#define DEFAULT_CONFIG CONFIGDIR "/vitaled.conf"
/* Longest wait for the sources' first readers before taking the bus name
 * (pcscd may hang); a reader found later is announced as it comes. */
#define SOURCES_WAIT_MS	10000

static struct {
	const char *config_path;
	bool config_explicit;
	const char *plugin_dir;
	bool session_bus;
	bool check_only;
	bool list_plugins;
	enum log_level level;
} opts = {
	.config_path = DEFAULT_CONFIG,
	.plugin_dir = PLUGINDIR,
	.level = LOG_LEVEL_WARN,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vitaled [OPTION]...\n"
		"Read and verify Carte Vitale cards, phones and QR tokens; serve them on D-Bus.\n\n"
		"  -c, --config FILE      configuration file (default %s);\n"
		"                         drop-ins are read from FILE.d/*.conf\n"
		"  -s, --session          use the session bus (development)\n"
		"  -p, --plugin-dir DIR   external plugins (default %s)\n"
		"  -t, --check-config     validate the configuration and exit\n"
		"  -l, --list-plugins     list the plugins found and exit\n"
		"  -v, --verbose          more messages\n"
		"  -d, --debug            debug messages\n"
		"  -h, --help             this help\n"
		"  -V, --version          version\n\n"
		"The bus address can be overridden with DBUS_SYSTEM_BUS_ADDRESS\n"
		"(or DBUS_SESSION_BUS_ADDRESS with --session).\n",
		DEFAULT_CONFIG, PLUGINDIR);
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "session", no_argument, NULL, 's' },
		{ "plugin-dir", required_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 't' },
		{ "list-plugins", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:sp:tlvdhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts.config_path = optarg;
			opts.config_explicit = true;
			break;
		case 's':
			opts.session_bus = true;
			break;
		case 'p':
			opts.plugin_dir = optarg;
			break;
		case 't':
			opts.check_only = true;
			break;
		case 'l':
			opts.list_plugins = true;
			break;
		case 'v':
			if (opts.level < LOG_LEVEL_INFO)
				opts.level = LOG_LEVEL_INFO;
			break;
		case 'd':
			opts.level = LOG_LEVEL_DEBUG;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case 'V':
			printf("vitaled %s\n", PACKAGE_VERSION);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			exit(EXIT_FAILURE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vitaled: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* The default file may be absent (built-in defaults); one given with
 * --config must exist. */
static int load_config(struct config **out)
{
	char dropins[PATH_MAX], err[512] = "";
	int ret;

	if (snprintf(dropins, sizeof(dropins), "%s.d", opts.config_path) >= (int)sizeof(dropins))
		return -ENAMETOOLONG;
	ret = config_load(opts.config_path, dropins, !opts.config_explicit,
			plugin_schemas(), err, sizeof(err), out);
	if (ret < 0)
		vitaled_error("%s", err);
	return ret;
}

static void on_terminate(void *user_data)
{
	vitaled_info("shutting down");
	notify_stopping();
	loop_quit(EXIT_SUCCESS);
}

static bool ready;

/* The readers present at start are published: now the name, then ready. */
static void sources_enumerated(void *user_data)
{
	if (dbus_service_own_name() < 0) {
		loop_quit(EXIT_FAILURE);
		return;
	}
	ready = true;
	vitaled_info("vitaled %s ready", PACKAGE_VERSION);
	notify_ready();
}

static void on_reload(void *user_data)
{
	struct config *config;

	vitaled_info("reloading configuration and trust material");
	if (ready)	/* systemd hears of us once the name is owned */
		notify_reloading();
	if (load_config(&config) < 0) {
		vitaled_error("reload refused: the configuration in force stays");
	} else {
		config_set_current(config);
		engine_reload();
		dbus_service_manager_changed();
	}
	if (ready)
		notify_ready();
}

int main(int argc, char **argv)
{
	struct config *config;
	int status;

	log_init(LOG_LEVEL_WARN);
	if (parse_args(argc, argv) < 0)
		return EXIT_FAILURE;
	log_init(opts.level);

	/* Before any thread exists, so that workers never take our signals. */
	if (loop_block_signals() < 0) {
		vitaled_error("cannot block signals");
		return EXIT_FAILURE;
	}
	plugin_load_all(opts.plugin_dir);
	if (opts.list_plugins) {
		plugin_print_list(stdout);
		plugin_stop();
		return EXIT_SUCCESS;
	}
	if (load_config(&config) < 0) {
		plugin_stop();
		return EXIT_CONFIG;
	}
	config_set_current(config);
	if (opts.check_only) {
		printf("%s: configuration is valid\n", opts.config_path);
		config_set_current(NULL);
		plugin_stop();
		return EXIT_SUCCESS;
	}

	status = EXIT_FAILURE;
	/*
	 * No core file, no ptrace by our own user: a crash while a card is
	 * in would leave its health data in systemd-coredump's store for
	 * days (doc/security.md, "In crash dumps").
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		vitaled_error("cannot make the process non-dumpable: %s", strerror(errno));
		goto out_loop;
	}
	if (loop_init() < 0) {
		vitaled_error("cannot set up the main loop: %s", strerror(errno));
		goto out_loop;
	}
	loop_add_signal(SIGTERM, on_terminate, NULL);
	loop_add_signal(SIGINT, on_terminate, NULL);
	loop_add_signal(SIGHUP, on_reload, NULL);

	if (engine_init() < 0)
		goto out_loop;
	if (dbus_service_init(opts.session_bus) < 0)
		goto out_engine;
	trust_install_start();
	plugin_start(sources_enumerated, SOURCES_WAIT_MS);

	status = loop_run();

	/* loop_run() ran every post made before it returned and refuses
	 * later ones (vitaled_post): workers stop now, before what they use. */
	plugin_stop();
	trust_install_cleanup();
	card_cleanup();
	reader_cleanup();
	dbus_service_cleanup();
out_engine:
	engine_cleanup();
out_loop:
	loop_cleanup();
	plugin_stop();
	config_set_current(NULL);
	return status;
}
