/*
 * The browser's native-messaging framing: a 32-bit length in the machine's
 * byte order, then that many bytes of UTF-8 JSON.  Incoming messages are
 * read no further than their end, so a message over the limit is refused
 * from its length alone, before any of it is buffered.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

static size_t wanted(const struct frame_in *in)
{
	uint32_t n;

	if (in->len < 4)
		return 4;
	memcpy(&n, in->buf, 4);
	return 4 + (size_t)n;
}

enum frame_status frame_read(struct frame_in *in, int fd)
{
	uint32_t n;
	ssize_t r;

	r = read(fd, in->buf + in->len, wanted(in) - in->len);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? FRAME_MORE : FRAME_ERROR;
	if (r == 0)
		return in->len ? FRAME_TRUNCATED : FRAME_EOF;
	in->len += (size_t)r;
	if (in->len < 4)
		return FRAME_MORE;
	memcpy(&n, in->buf, 4);
	if (n > BRIDGE_MAX_IN)
		return FRAME_TOO_LARGE;
	return in->len == wanted(in) ? FRAME_READY : FRAME_MORE;
}

const char *frame_body(const struct frame_in *in, size_t *len)
{
	*len = in->len - 4;
	return (const char *)in->buf + 4;
}

void frame_consume(struct frame_in *in)
{
	in->len = 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t r;

	while (len) {
		r = write(fd, p, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int frame_write(int fd, struct json_object *msg)
{
	struct json_object *id, *err = NULL;
	const char *text;
	size_t len;
	uint32_t n;
	int ret;

	text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (len > BRIDGE_MAX_OUT) {
		/* A card never gets near it; say so rather than send what the
		 * browser would refuse (and close the port for). */
		bridge_log(LOG_WARNING, "reply of %zu bytes over the limit, refused", len);
		err = json_object_new_object();
		if (!err)
			return -ENOMEM;
		json_object_object_add(err, "type", json_object_new_string("error"));
		if (json_object_object_get_ex(msg, "id", &id))
			json_object_object_add(err, "id", json_object_get(id));
		json_object_object_add(err, "error", json_object_new_string("too-large"));
		json_object_object_add(err, "message",
				json_object_new_string("reply too large for the browser"));
		text = json_object_to_json_string_ext(err, JSON_C_TO_STRING_PLAIN);
		len = text ? strlen(text) : 0;
	}
	n = (uint32_t)len;
	ret = text ? write_all(fd, &n, 4) : -ENOMEM;
	if (!ret)
		ret = write_all(fd, text, len);
	json_object_put(err);
	return ret;
}
