/*
 * D-Bus replies decoded into a small tree, so commands look properties up
 * by name and --json prints any reply without knowing its shape.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vitalectl.h"

/* D-Bus allows 64 nested containers; our API uses 5. */
#define VALUE_MAX_DEPTH	32

static int value_read(DBusMessageIter *it, struct ctl_value *v, unsigned int depth);

static struct ctl_value *append_item(struct ctl_value *parent, size_t *cap)
{
	struct ctl_value *items;

	if (parent->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;

		items = realloc(parent->items, ncap * sizeof(*items));
		if (!items)
			return NULL;
		parent->items = items;
		*cap = ncap;
	}
	memset(&parent->items[parent->n], 0, sizeof(parent->items[0]));
	return &parent->items[parent->n++];
}

/* Keys of a{..}: any basic type, kept as text. */
static char *key_text(DBusMessageIter *it)
{
	DBusBasicValue b;
	char buf[32];

	switch (dbus_message_iter_get_arg_type(it)) {
	case DBUS_TYPE_STRING:
	case DBUS_TYPE_OBJECT_PATH:
	case DBUS_TYPE_SIGNATURE:
		dbus_message_iter_get_basic(it, &b);
		return strdup(b.str);
	case DBUS_TYPE_BYTE:
		dbus_message_iter_get_basic(it, &b);
		snprintf(buf, sizeof(buf), "%u", b.byt);
		return strdup(buf);
	case DBUS_TYPE_UINT32:
		dbus_message_iter_get_basic(it, &b);
		snprintf(buf, sizeof(buf), "%u", b.u32);
		return strdup(buf);
	case DBUS_TYPE_INT32:
		dbus_message_iter_get_basic(it, &b);
		snprintf(buf, sizeof(buf), "%d", b.i32);
		return strdup(buf);
	default:
		return strdup("?");
	}
}

static int read_container(DBusMessageIter *it, struct ctl_value *v, unsigned int depth)
{
	DBusMessageIter sub, entry;
	struct ctl_value *item;
	size_t cap = 0;
	int ret;

	dbus_message_iter_recurse(it, &sub);
	while (dbus_message_iter_get_arg_type(&sub) != DBUS_TYPE_INVALID) {
		item = append_item(v, &cap);
		if (!item)
			return -ENOMEM;
		if (dbus_message_iter_get_arg_type(&sub) == DBUS_TYPE_DICT_ENTRY) {
			v->type = DBUS_TYPE_DICT_ENTRY;
			dbus_message_iter_recurse(&sub, &entry);
			item->key = key_text(&entry);
			if (!item->key)
				return -ENOMEM;
			dbus_message_iter_next(&entry);
			ret = value_read(&entry, item, depth + 1);
		} else {
			ret = value_read(&sub, item, depth + 1);
		}
		if (ret < 0)
			return ret;
		dbus_message_iter_next(&sub);
	}
	/* an empty a{sv} is still a dictionary */
	if (dbus_message_iter_get_arg_type(it) == DBUS_TYPE_ARRAY &&
			dbus_message_iter_get_element_type(it) == DBUS_TYPE_DICT_ENTRY)
		v->type = DBUS_TYPE_DICT_ENTRY;
	return 0;
}

static int value_read(DBusMessageIter *it, struct ctl_value *v, unsigned int depth)
{
	DBusMessageIter sub;
	DBusBasicValue b;
	int type = dbus_message_iter_get_arg_type(it);

	if (depth > VALUE_MAX_DEPTH)
		return -ELOOP;
	v->type = type;
	switch (type) {
	case DBUS_TYPE_STRING:
	case DBUS_TYPE_OBJECT_PATH:
	case DBUS_TYPE_SIGNATURE:
		dbus_message_iter_get_basic(it, &b);
		v->s = strdup(b.str);
		return v->s ? 0 : -ENOMEM;
	case DBUS_TYPE_BOOLEAN:
		dbus_message_iter_get_basic(it, &b);
		v->b = b.bool_val;
		return 0;
	case DBUS_TYPE_BYTE:
		dbus_message_iter_get_basic(it, &b);
		v->u = b.byt;
		return 0;
	case DBUS_TYPE_UINT16:
		dbus_message_iter_get_basic(it, &b);
		v->u = b.u16;
		return 0;
	case DBUS_TYPE_UINT32:
		dbus_message_iter_get_basic(it, &b);
		v->u = b.u32;
		return 0;
	case DBUS_TYPE_UINT64:
		dbus_message_iter_get_basic(it, &b);
		v->u = b.u64;
		return 0;
	case DBUS_TYPE_INT16:
		dbus_message_iter_get_basic(it, &b);
		v->i = b.i16;
		return 0;
	case DBUS_TYPE_INT32:
		dbus_message_iter_get_basic(it, &b);
		v->i = b.i32;
		return 0;
	case DBUS_TYPE_INT64:
		dbus_message_iter_get_basic(it, &b);
		v->i = b.i64;
		return 0;
	case DBUS_TYPE_DOUBLE:
		dbus_message_iter_get_basic(it, &b);
		v->d = b.dbl;
		return 0;
	case DBUS_TYPE_VARIANT:
		dbus_message_iter_recurse(it, &sub);
		return value_read(&sub, v, depth + 1);
	case DBUS_TYPE_ARRAY:
	case DBUS_TYPE_STRUCT:
		v->type = DBUS_TYPE_ARRAY;
		return read_container(it, v, depth);
	default:
		/* unix fds and the like: not in our API, shown as null */
		v->type = DBUS_TYPE_INVALID;
		return 0;
	}
}

int ctl_value_read(DBusMessageIter *it, struct ctl_value *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = value_read(it, out, 0);
	if (ret < 0)
		ctl_value_clear(out);
	return ret;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void ctl_value_clear(struct ctl_value *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->n; i++)
		ctl_value_clear(&v->items[i]);
	free(v->items);
	wipe_free(v->key);
	if (v->type == DBUS_TYPE_STRING || v->type == DBUS_TYPE_OBJECT_PATH ||
			v->type == DBUS_TYPE_SIGNATURE)
		wipe_free(v->s);
	memset(v, 0, sizeof(*v));
}

const struct ctl_value *ctl_value_get(const struct ctl_value *dict, const char *key)
{
	size_t i;

	if (!dict || dict->type != DBUS_TYPE_DICT_ENTRY)
		return NULL;
	for (i = 0; i < dict->n; i++)
		if (dict->items[i].key && !strcmp(dict->items[i].key, key))
			return &dict->items[i];
	return NULL;
}

const char *ctl_str(const struct ctl_value *dict, const char *key)
{
	const struct ctl_value *v = ctl_value_get(dict, key);

	if (v && (v->type == DBUS_TYPE_STRING || v->type == DBUS_TYPE_OBJECT_PATH))
		return v->s;
	return "";
}

bool ctl_bool(const struct ctl_value *dict, const char *key)
{
	const struct ctl_value *v = ctl_value_get(dict, key);

	return v && v->type == DBUS_TYPE_BOOLEAN && v->b;
}

uint64_t ctl_uint(const struct ctl_value *dict, const char *key)
{
	const struct ctl_value *v = ctl_value_get(dict, key);

	if (!v)
		return 0;
	switch (v->type) {
	case DBUS_TYPE_BYTE:
	case DBUS_TYPE_UINT16:
	case DBUS_TYPE_UINT32:
	case DBUS_TYPE_UINT64:
		return v->u;
	case DBUS_TYPE_INT16:
	case DBUS_TYPE_INT32:
	case DBUS_TYPE_INT64:
		return v->i < 0 ? 0 : (uint64_t)v->i;
	default:
		return 0;
	}
}

void ctl_value_json(struct json *j, const struct ctl_value *v)
{
	size_t i;

	switch (v->type) {
	case DBUS_TYPE_STRING:
	case DBUS_TYPE_OBJECT_PATH:
	case DBUS_TYPE_SIGNATURE:
		json_string(j, v->s);
		break;
	case DBUS_TYPE_BOOLEAN:
		json_bool(j, v->b);
		break;
	case DBUS_TYPE_BYTE:
	case DBUS_TYPE_UINT16:
	case DBUS_TYPE_UINT32:
	case DBUS_TYPE_UINT64:
		json_uint(j, v->u);
		break;
	case DBUS_TYPE_INT16:
	case DBUS_TYPE_INT32:
	case DBUS_TYPE_INT64:
		json_int(j, v->i);
		break;
	case DBUS_TYPE_DOUBLE:
		json_double(j, v->d);
		break;
	case DBUS_TYPE_DICT_ENTRY:
		json_object_begin(j);
		for (i = 0; i < v->n; i++) {
			json_key(j, v->items[i].key);
			ctl_value_json(j, &v->items[i]);
		}
		json_object_end(j);
		break;
	case DBUS_TYPE_ARRAY:
		json_array_begin(j);
		for (i = 0; i < v->n; i++)
			ctl_value_json(j, &v->items[i]);
		json_array_end(j);
		break;
	default:
		json_null(j);
		break;
	}
}
