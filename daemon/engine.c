/*
 * The verification context in force: settings from the configuration and
 * the trust store, rebuilt on SIGHUP.  Workers take a reference, so a
 * reload never pulls the store from under a read in progress.  The replay
 * cache lives across reloads: it is the daemon's memory of tokens seen.
 * An installed trust bundle (trust-install.c) takes precedence over
 * [Trust] Directory.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "daemon.h"

static struct vd_context *current;
static struct vd_replay *replay;
static struct vitaled_timer *stale_timer;

static void stale_arm(void);

static void report_trust_file(const char *path, const char *why, void *user_data)
{
	vitaled_warn("trust: %s not used: %s", path, why);
}

static void settings_from_config(struct vd_settings *settings)
{
	vd_settings_default(settings);
	settings->allow_test_cards = vitaled_config_bool("Trust", "AllowTestCards");
	settings->clock_skew = (unsigned int)vitaled_config_int("Tokens", "ClockSkew");
	settings->token_max_age = (unsigned int)vitaled_config_int("Tokens", "MaxAge");
	settings->token_max_inflated = (size_t)vitaled_config_int("Tokens", "MaxInflatedSize");
	settings->read_timeout_ms = (unsigned int)vitaled_config_int("Chips", "ReadTimeout");
}

uint64_t engine_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct vd_context *context_with(struct vd_trust *trust, const char *dir,
		uint64_t load_us)
{
	struct vd_trust_info info;
	struct vd_settings settings;

	settings_from_config(&settings);
	vd_trust_get_info(trust, &info);
	vitaled_info("trust: %u roots, %u signers, %u CRLs, %u opposed serials from %s "
			"(loaded in %llu us)", info.n_roots, info.n_signers, info.n_crls,
			info.n_opposed, dir, (unsigned long long)load_us);
	if (info.n_roots == 0)
		vitaled_warn("trust: no issuer root in %s: nothing can be verified", dir);
	return vd_context_new(trust, &settings);
}

static struct vd_context *build_context(void)
{
	const char *dir = trust_install_dir();
	struct vd_context *ctx;
	struct vd_trust *trust = NULL;
	uint64_t start = engine_monotonic_us();
	int err;

	if (!dir)
		dir = vitaled_config_string("Trust", "Directory");
	err = vd_trust_load(dir, report_trust_file, NULL, &trust);
	if (err < 0) {
		vitaled_error("trust: cannot load %s: %s", dir, strerror(-err));
		return NULL;
	}
	ctx = context_with(trust, dir, engine_monotonic_us() - start);
	vd_trust_unref(trust);
	return ctx;
}

/* The configured directory; else the one systemd made for us
 * (StateDirectory=), which may differ from the built-in default. */
const char *engine_state_directory(void)
{
	const char *systemd_dir = getenv("STATE_DIRECTORY");

	if (!config_is_set("General", "StateDirectory") && systemd_dir && *systemd_dir &&
			!strchr(systemd_dir, ':'))
		return systemd_dir;
	return vitaled_config_string("General", "StateDirectory");
}

static void open_replay_cache(void)
{
	const char *dir = engine_state_directory();
	char path[PATH_MAX];
	int err;

	if (snprintf(path, sizeof(path), "%s/replay.cache", dir) >= (int)sizeof(path)) {
		vitaled_error("replay cache: state directory path too long");
		return;
	}
	err = vd_replay_open(path, (size_t)vitaled_config_int("Tokens", "ReplayCacheSize"),
			&replay);
	if (err < 0) {
		replay = NULL;
		vitaled_error("replay cache: cannot open %s: %s; QR tokens will be refused",
				path, strerror(-err));
	} else if (vd_replay_problem(replay)) {
		vitaled_warn("replay cache: %s was unusable (%s) and was rebuilt; tokens issued "
				"before now count as replayed", path, vd_replay_problem(replay));
	}
}

int engine_init(void)
{
	/* OpenSSL loads all its error strings (0.25 MiB resident) the first
	 * time a thread touches its error queue.  The daemon would show one
	 * only for a damaged trust file, which is then "unrecognised content";
	 * vitalectl diag, not the daemon, is the tool to take it apart. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
	trust_install_init();
	current = build_context();
	if (!current)
		return -EINVAL;
	open_replay_cache();
	stale_arm();
	return 0;
}

int engine_reload(void)
{
	struct vd_context *ctx = build_context();

	if (!ctx) {
		vitaled_error("trust: reload failed, keeping the trust material in force");
		return -EINVAL;
	}
	vd_context_unref(current);
	current = ctx;
	if (!replay)
		open_replay_cache();
	stale_arm();
	return 0;
}

void engine_set_trust(struct vd_trust *trust, const char *dir, uint64_t load_us)
{
	struct vd_context *ctx = context_with(trust, dir, load_us);

	if (!ctx) {
		vitaled_error("trust: out of memory: keeping the trust material in force");
		return;
	}
	/* Reads in progress hold their own reference to the old context. */
	vd_context_unref(current);
	current = ctx;
	stale_arm();
}

const char *engine_trust_stale(time_t now, bool *refuse)
{
	const struct trust_bundle_info *b = trust_bundle_installed();
	long max_age = vitaled_config_int("Trust", "MaxAge");

	*refuse = !strcmp(vitaled_config_string("Trust", "StaleAction"), "refuse");
	if (b && b->expires <= now)
		return "trust material is stale: the installed trust bundle has expired";
	if (max_age <= 0)
		return NULL;
	if (!b)
		return "trust material is stale: no trust bundle installed and [Trust] MaxAge is set";
	if (now - b->issued > max_age)
		return "trust material is stale: the trust bundle is older than [Trust] MaxAge";
	return NULL;
}

static void stale_turned(void *user_data)
{
	stale_timer = NULL;
	dbus_service_manager_props_changed();
	stale_arm();
}

/* TrustStale turns true with time alone: wake up then, to say so on
 * D-Bus (at most a day ahead: the timer is in milliseconds). */
static void stale_arm(void)
{
	const struct trust_bundle_info *b = trust_bundle_installed();
	long max_age = vitaled_config_int("Trust", "MaxAge");
	time_t now = time(NULL), when;
	bool refuse;

	vitaled_timer_remove(stale_timer);
	stale_timer = NULL;
	if (!b || engine_trust_stale(now, &refuse))
		return;		/* only an install or a reload changes it now */
	when = b->expires;
	if (max_age > 0 && b->issued + max_age + 1 < when)
		when = b->issued + max_age + 1;
	if (when - now > 86400)
		when = now + 86400;
	stale_timer = vitaled_timer_add((unsigned int)(when - now) * 1000u, stale_turned, NULL);
}

void engine_apply_freshness(struct vd_read_result *result)
{
	struct vd_verdict *v = &result->verdict;
	const char *stale;
	char reason[sizeof(v->reason)];
	bool refuse;

	stale = engine_trust_stale(time(NULL), &refuse);
	if (!stale)
		return;
	if (refuse && result->has_record) {
		vd_read_result_drop_record(result);
		vd_verdict_set(v, VD_STATUS_UNTRUSTED, "%s (StaleAction=refuse)", stale);
		return;
	}
	/* The verdict's own reason is cut if need be, never the warning. */
	snprintf(reason, sizeof(reason), "%s", v->reason);
	vd_verdict_set(v, v->status, "%.*s; %s",
			(int)(sizeof(reason) - strlen(stale) - 3), reason, stale);
}

void engine_cleanup(void)
{
	vitaled_timer_remove(stale_timer);
	stale_timer = NULL;
	vd_context_unref(current);
	current = NULL;
	vd_replay_close(replay);
	replay = NULL;
}

struct vd_replay *engine_replay(void)
{
	return replay;
}

struct vd_context *engine_context(void)
{
	return current;
}

struct vd_context *vitaled_verify_context(void)
{
	return current ? vd_context_ref(current) : NULL;
}
