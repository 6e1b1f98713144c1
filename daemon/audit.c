/*
 * The audit trail of the data methods (doc/dbus-api.md): one line per
 * call that releases or wipes data, whatever the log level.  A caller's
 * command name is its own choice (prctl, exec of any file name): it is
 * quoted and escaped so that no name can pass for the rest of a line.
 * Refusals would let one caller flood the log, so after the first line
 * of a kind (caller, outcome) more of the same are only counted, and
 * one line per window says how many there were.
 */
#include <stdio.h>
#include <string.h>

#include <vitaled/dbus.h>

#include "daemon.h"

#define WINDOW_MS	10000
#define MAX_KINDS	64	/* refusing callers followed at once; beyond, every line */
/* TASK_COMM_LEN is 16: 15 bytes, each escaped to at most 4, and the NUL */
#define COMM_QUOTED	(15 * 4 + 1)

struct refusals {
	bool used;
	struct audit_caller who;
	const char *outcome;
	char comm[COMM_QUOTED];	/* as in the first line */
	unsigned long count;	/* refusals not written since the last line */
};

static struct {
	struct refusals kinds[MAX_KINDS];
	struct vitaled_timer *timer;
} audit;

/* "?" when unknown; printable ASCII kept but for '"' and '\', which are
 * escaped like every other byte (\xNN): the name is the only text in the
 * line that the caller chooses. */
static void command_name(unsigned int pid, char out[COMM_QUOTED])
{
	unsigned char raw[32];
	char path[32], *o = out;
	size_t n = 0, i;
	FILE *f;

	snprintf(out, COMM_QUOTED, "?");
	if (!pid)
		return;
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	n = fread(raw, 1, sizeof(raw), f);
	fclose(f);
	/* the kernel ends the name with one newline; any other is the name's */
	if (n && raw[n - 1] == '\n')
		n--;
	if (n > 15 || !n)
		return;
	for (i = 0; i < n; i++) {
		unsigned char c = raw[i];

		if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\')
			*o++ = (char)c;
		else if (c == '"' || c == '\\')
			o += sprintf(o, "\\%c", c);
		else
			o += sprintf(o, "\\x%02x", c);
	}
	*o = '\0';
}

static long uid_of(const struct audit_caller *who)
{
	return who->have_uid ? (long)who->uid : -1L;
}

static void write_summary(const struct refusals *k)
{
	log_audit("%lu more refused calls within %u s by uid %ld pid %u comm \"%s\": %s",
		  k->count, WINDOW_MS / 1000, uid_of(&k->who), k->who.pid, k->comm,
		  k->outcome);
}

/* End of a window: counts written; a kind with none is forgotten, one
 * still refused is followed one more window. */
static void window_over(void *user_data)
{
	bool active = false;
	unsigned int i;

	(void)user_data;
	audit.timer = NULL;	/* a fired timer is freed by the loop */
	for (i = 0; i < MAX_KINDS; i++) {
		struct refusals *k = &audit.kinds[i];

		if (!k->used)
			continue;
		if (!k->count) {
			k->used = false;
			continue;
		}
		write_summary(k);
		k->count = 0;
		active = true;
	}
	if (active)
		audit.timer = vitaled_timer_add(WINDOW_MS, window_over, NULL);
}

static bool same_kind(const struct refusals *k, const struct audit_caller *who,
		const char *outcome)
{
	return k->used && k->who.have_uid == who->have_uid && k->who.uid == who->uid &&
		k->who.pid == who->pid && !strcmp(k->outcome, outcome);
}

/*
 * A refusal of a kind followed in this window is counted (*counted);
 * else the kind is followed from now on, in the slot returned (NULL when
 * none is free: then every such line is written).
 */
static struct refusals *coalesce(const struct audit_caller *who, const char *outcome,
		bool *counted)
{
	struct refusals *free_slot = NULL;
	unsigned int i;

	*counted = false;
	for (i = 0; i < MAX_KINDS; i++) {
		struct refusals *k = &audit.kinds[i];

		if (same_kind(k, who, outcome)) {
			k->count++;
			*counted = true;
			return k;
		}
		if (!k->used && !free_slot)
			free_slot = k;
	}
	if (!free_slot)
		return NULL;
	if (!audit.timer) {
		audit.timer = vitaled_timer_add(WINDOW_MS, window_over, NULL);
		if (!audit.timer)
			return NULL;	/* nobody would write the count */
	}
	free_slot->used = true;
	free_slot->who = *who;
	free_slot->outcome = outcome;
	free_slot->count = 0;
	return free_slot;
}

void audit_call(const char *method, const char *card_id, const struct audit_caller *who,
		const char *outcome, bool refusal)
{
	struct refusals *k = NULL;
	char comm[COMM_QUOTED];
	bool counted = false;

	if (refusal)
		k = coalesce(who, outcome, &counted);
	if (counted)
		return;
	command_name(who->pid, comm);
	if (k)
		memcpy(k->comm, comm, sizeof(comm));
	/* card_id "": a Manager1 method (InstallTrustBundle) */
	log_audit("%s on %s%s by uid %ld pid %u comm \"%s\": %s", method,
		  card_id[0] ? VITALED_DBUS_CARD_PATH_PREFIX : VITALED_DBUS_MANAGER_PATH,
		  card_id, uid_of(who), who->pid, comm, outcome);
}

void audit_flush(void)
{
	unsigned int i;

	vitaled_timer_remove(audit.timer);
	audit.timer = NULL;
	for (i = 0; i < MAX_KINDS; i++) {
		if (audit.kinds[i].used && audit.kinds[i].count)
			write_summary(&audit.kinds[i]);
		audit.kinds[i].used = false;
	}
}
