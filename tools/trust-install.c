/*
 * vitalectl trust install FILE: check a trust bundle here against the
 * pinned trust-list roots (a clear answer even with the daemon down),
 * then pass the open file to vitaled, which verifies it again (it never
 * trusts the caller) and installs it (Manager1.InstallTrustBundle).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include <vitaled/dbus.h>
#include "vitaled-core.h"
#include "vitalectl.h"

/* Verifying and syncing a large set takes a while on a busy PC. */
#define INSTALL_TIMEOUT_MS	(120 * 1000)

static void usage(FILE *out)
{
	fprintf(out, _("Usage: vitalectl [--config FILE] trust install BUNDLE\n\n"
			"Checks the signed trust bundle against the trust-list roots\n"
			"([Trust] ListRootDirectory), then has vitaled install it (root only).\n"
			"Exit status 1 when the bundle is refused.\n"));
}

static int check_here(int fd, const char *path, const struct ctl_config *cfg)
{
	struct vd_bundle *b = NULL;
	X509_STORE *roots = NULL;
	unsigned int n_roots = 0;
	uint8_t *buf = NULL;
	size_t size = 0;
	char why[256];
	int err;

	err = vd_read_fd(fd, VD_BUNDLE_MAX_SIZE, &buf, &size);
	if (err < 0 || size == 0) {
		/* vd_open_strerror()'s words are libvitaled-core's, in English */
		fprintf(stderr, _("vitalectl: %s: %s: not a trust bundle\n"), path,
				err < 0 ? vd_open_strerror(err) : _("empty"));
		free(buf);
		return VITALECTL_FAILED;
	}
	err = vd_bundle_roots_load(cfg->list_root_dir, &roots, &n_roots);
	if (!err && n_roots == 0) {
		fprintf(stderr, _("vitalectl: no trust-list root in %s: pin the issuer's "
				"trust-list root there first\n"), cfg->list_root_dir);
		err = -ENOENT;
	} else if (!err) {
		err = vd_bundle_parse(buf, size, roots, time(NULL), &b, why, sizeof(why));
		if (!err)
			err = vd_bundle_check(b, 0, time(NULL), cfg->clock_skew >= 0 ?
					(unsigned int)cfg->clock_skew : 30, why, sizeof(why));
		if (err < 0)
			/* TRANSLATORS: the reason is libvitaled-core's, in English */
			fprintf(stderr, _("vitalectl: %s refused: %s\n"), path, why);
	}
	vd_bundle_free(b);
	X509_STORE_free(roots);
	free(buf);
	return err < 0 ? VITALECTL_FAILED : VITALECTL_OK;
}

static int install(DBusConnection *conn, int fd, const char *path, uint64_t *version,
		DBusError *err)
{
	const char *base = strrchr(path, '/');
	char source[80];
	const char *s = source;
	DBusMessage *msg, *reply;
	dbus_uint64_t v = 0;

	snprintf(source, sizeof(source), "vitalectl:%.60s", base ? base + 1 : path);
	msg = dbus_message_new_method_call(VITALED_DBUS_NAME, VITALED_DBUS_MANAGER_PATH,
			VITALED_DBUS_MANAGER_INTERFACE, "InstallTrustBundle");
	if (!msg || !dbus_message_append_args(msg, DBUS_TYPE_UNIX_FD, &fd,
				DBUS_TYPE_STRING, &s, DBUS_TYPE_INVALID)) {
		if (msg)
			dbus_message_unref(msg);
		dbus_set_error_const(err, DBUS_ERROR_NO_MEMORY, "out of memory");
		return -ENOMEM;
	}
	reply = dbus_connection_send_with_reply_and_block(conn, msg, INSTALL_TIMEOUT_MS, err);
	dbus_message_unref(msg);
	if (!reply)
		return -EIO;
	if (!dbus_message_get_args(reply, err, DBUS_TYPE_UINT64, &v, DBUS_TYPE_INVALID)) {
		dbus_message_unref(reply);
		return -EBADMSG;
	}
	dbus_message_unref(reply);
	*version = v;
	return 0;
}

void ctl_trust_dir_in_use(const struct ctl_config *cfg, const struct ctl_value *manager,
		char *out, size_t len)
{
	if (manager && ctl_uint(manager, "TrustBundleVersion"))
		snprintf(out, len, "%s/trust/current", cfg->state_dir);
	else
		snprintf(out, len, "%s", cfg->trust_dir);
}

bool ctl_trust_bundle_problem(const struct ctl_value *manager, time_t now,
		unsigned int warn_days, char *out, size_t len)
{
	time_t expires = (time_t)ctl_uint(manager, "TrustBundleExpires");
	const char *error = ctl_str(manager, "TrustLastInstallError");
	char date[16];

	ctl_format_date(expires, date);
	out[0] = '\0';
	if (ctl_bool(manager, "TrustStale"))
		snprintf(out, len, expires && expires <= now ?
				_("the trust material is stale (the bundle has expired): install "
				"the issuer's current bundle ('vitalectl trust install FILE' or "
				"the update timer)") :
				_("the trust material is stale ([Trust] MaxAge): install the "
				"issuer's current bundle ('vitalectl trust install FILE' or the "
				"update timer)"));
	else if (expires && expires - now < (time_t)warn_days * 86400)
		snprintf(out, len, _("the trust bundle expires on %s: install the issuer's "
				"next bundle before then"), date);
	else if (error[0])
		/* TRANSLATORS: the reason is the daemon's, in English */
		snprintf(out, len, _("the last trust bundle offered was refused: %s"), error);
	return out[0] != '\0';
}

int ctl_trust_install(int argc, char **argv, const struct vitalectl_opts *opts)
{
	struct ctl_config cfg;
	DBusConnection *conn;
	DBusError err;
	uint64_t version = 0;
	int fd, ret;

	if (argc != 2 || !strcmp(argv[1], "--help") || argv[1][0] == '-') {
		usage(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc == 2 && !strcmp(argv[1], "--help") ? VITALECTL_OK : VITALECTL_USAGE;
	}
	fd = vd_open_regular(AT_FDCWD, argv[1], NULL);
	if (fd < 0) {
		fprintf(stderr, "vitalectl: %s: %s\n", argv[1], vd_open_strerror(fd));
		return VITALECTL_FAILED;
	}
	ctl_config_load(opts->config, &cfg);
	ret = check_here(fd, argv[1], &cfg);
	if (ret != VITALECTL_OK) {
		close(fd);
		return ret;
	}
	conn = vitalectl_bus(opts);
	if (!conn) {
		close(fd);
		return VITALECTL_NO_DAEMON;
	}
	dbus_error_init(&err);
	if (install(conn, fd, argv[1], &version, &err) < 0) {
		if (ctl_error_exit(&err) == VITALECTL_DENIED) {
			/* the client group reads cards; only root changes what is trusted */
			fprintf(stderr, _("vitalectl: trust install: not authorised: only root "
					"may install trust material (sudo vitalectl trust install "
					"%s)\n"), argv[1]);
			ret = VITALECTL_DENIED;
		} else {
			ret = ctl_error_report("trust install", &err);
		}
		dbus_error_free(&err);
	} else {
		printf(_("trust bundle version %llu in force (%s)\n"),
				(unsigned long long)version, argv[1]);
	}
	close(fd);
	dbus_connection_close(conn);
	dbus_connection_unref(conn);
	return ret;
}
