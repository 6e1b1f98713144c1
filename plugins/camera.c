/*
 * A webcam as a QR source: libzbar reads frames from a V4L2 device in a
 * worker thread and scans them in binary mode; each code, once per
 * appearance in view (zbar's symbol cache), is posted back to the loop.
 *
 * [camera] Enabled = false by default: a camera scanning all day costs CPU,
 * so nothing is opened and no thread runs unless asked for.  The device
 * node is found like other scanners' (devwatch.c), so a webcam plugged in
 * later is picked up.
 *
 * libzbar is loaded when the camera is enabled, not linked: with libv4l,
 * libjpeg and X11 behind it, it costs every daemon about 0.8 MiB of
 * resident pages (bench-sys, doc/performance.md) for a source that is off
 * by default.  Its prototypes still come from zbar.h, so each call through
 * the table below is type-checked.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zbar.h>

#include "plugins.h"

#define ZBAR_LIBRARY	"libzbar.so.0"	/* the ABI of the zbar.h we build with */

#define ZBAR_CALLS(X) \
	X(image_convert) X(image_destroy) X(image_first_symbol) X(image_scanner_create) \
	X(image_scanner_destroy) X(image_scanner_enable_cache) X(image_scanner_set_config) \
	X(scan_image) X(symbol_get_count) X(symbol_get_data) X(symbol_get_data_length) \
	X(symbol_get_type) X(symbol_next) X(video_create) X(video_destroy) X(video_enable) \
	X(video_get_fd) X(video_init) X(video_next_image) X(video_open)

/* zbar.h's zbar_NAME() is called as zbar.NAME(); its inline
 * zbar_video_error_string() as zbar.error_string(). */
static struct {
#define ZBAR_POINTER(name) __typeof__(zbar_##name) *name;
	ZBAR_CALLS(ZBAR_POINTER)
#undef ZBAR_POINTER
	__typeof__(_zbar_error_string) *error_string;
	void *handle;
} zbar;

struct camera {
	char *path;
	struct vitaled_reader *reader;
	struct qr_line line;
	pthread_t thread;
	bool running;
	/* The node was seen (again) while a worker ran: one that failed to
	 * open it may have tried just before it appeared. */
	bool seen_again;
	int stop_fd;		/* eventfd: the worker stops when it is readable */
	unsigned int generation;
};

/* What the worker posts: a code, or the end of the worker. */
struct camera_msg {
	unsigned int generation;
	bool ended;
	size_t len;
	uint8_t data[];
};

static struct camera camera = { .stop_fd = -1 };
static struct devwatch *devwatch;
static unsigned int generation;

static const struct vitaled_option camera_options[] = {
	{ "Enabled", VITALED_OPT_BOOL, "false", 0, 0 },
	{ "Device", VITALED_OPT_STRING, "/dev/video0", 0, 0 },
	{ NULL }
};

static void camera_stop(void);
static void camera_found(const char *path, const char *option, void *user_data);

static void deliver(void *user_data)
{
	struct camera_msg *msg = user_data;

	if (camera.running && msg->generation == camera.generation) {
		if (msg->ended) {
			camera_stop();
			vitaled_info("reader %s: camera stopped; waiting for it to come back",
					vitaled_reader_id(camera.reader));
			if (camera.seen_again && access(camera.path, F_OK) == 0)
				camera_found(camera.path, NULL, NULL);
		} else {
			qr_line_put(&camera.line, msg->data, msg->len);
			qr_line_end(&camera.line);
		}
	}
	explicit_bzero(msg->data, msg->len);
	free(msg);
}

static void post(unsigned int gen, bool ended, const void *data, size_t len)
{
	struct camera_msg *msg = malloc(sizeof(*msg) + len);

	if (!msg)
		return;
	msg->generation = gen;
	msg->ended = ended;
	msg->len = len;
	if (len)
		memcpy(msg->data, data, len);
	if (vitaled_post(deliver, msg) < 0) {
		explicit_bzero(msg->data, len);
		free(msg);
	}
}

struct worker_args {
	char *path;
	int stop_fd;
	unsigned int generation;
};

static void scan_frame(zbar_image_scanner_t *scanner, zbar_image_t *frame, unsigned int gen)
{
	zbar_image_t *grey = zbar.image_convert(frame, zbar_fourcc('Y', '8', '0', '0'));
	const zbar_symbol_t *sym;

	if (!grey)
		return;
	if (zbar.scan_image(scanner, grey) > 0) {
		for (sym = zbar.image_first_symbol(grey); sym; sym = zbar.symbol_next(sym)) {
			unsigned int len = zbar.symbol_get_data_length(sym);

			/* count 0: newly in view; > 0 reported already */
			if (zbar.symbol_get_type(sym) != ZBAR_QRCODE ||
			    zbar.symbol_get_count(sym) != 0 || len > QR_CODE_MAX)
				continue;
			post(gen, false, zbar.symbol_get_data(sym), len);
		}
	}
	zbar.image_destroy(grey);
}

static void *worker(void *data)
{
	struct worker_args *args = data;
	zbar_image_scanner_t *scanner = zbar.image_scanner_create();
	zbar_video_t *video = zbar.video_create();
	struct pollfd fds[2];

	if (!scanner || !video)
		goto out;
	zbar.image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0);
	zbar.image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
	zbar.image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);
	zbar.image_scanner_enable_cache(scanner, 1);
	if (zbar.video_open(video, args->path) < 0 || zbar.video_init(video, 0) < 0 ||
	    zbar.video_enable(video, 1) < 0) {
		/* zbar's own text says which V4L2 step failed; it names no person */
		vitaled_warn("camera: %s: cannot capture: %s", args->path,
				zbar.error_string(video, 0));
		goto out;
	}
	fds[0].fd = zbar.video_get_fd(video);
	fds[0].events = POLLIN;
	fds[1].fd = args->stop_fd;
	fds[1].events = POLLIN;
	for (;;) {
		zbar_image_t *frame;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents)
			goto stopped;
		if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
		frame = zbar.video_next_image(video);
		if (!frame)
			break;
		scan_frame(scanner, frame, args->generation);
		zbar.image_destroy(frame);
	}
out:
	post(args->generation, true, NULL, 0);
stopped:
	if (video) {
		zbar.video_enable(video, 0);
		zbar.video_destroy(video);
	}
	if (scanner) {
		/* zbar_image_scanner_destroy() leaves the symbol cache (the codes
		 * last in view) allocated; turning the cache off releases it. */
		zbar.image_scanner_enable_cache(scanner, 0);
		zbar.image_scanner_destroy(scanner);
	}
	free(args->path);
	free(args);
	return NULL;
}

static void camera_stop(void)
{
	uint64_t one = 1;

	if (!camera.running)
		return;
	if (write(camera.stop_fd, &one, sizeof(one)) < 0)
		vitaled_error("camera: cannot stop the worker: %s", strerror(errno));
	pthread_join(camera.thread, NULL);
	close(camera.stop_fd);
	camera.stop_fd = -1;
	camera.running = false;
	qr_line_abort(&camera.line, "camera stopped");
	vitaled_reader_set_state(camera.reader, VITALED_READER_UNAVAILABLE);
}

static void camera_found(const char *path, const char *option, void *user_data)
{
	struct worker_args *args;
	int err;

	if (camera.running) {
		camera.seen_again = true;
		return;
	}
	camera.seen_again = false;
	args = calloc(1, sizeof(*args));
	if (!args || !(args->path = strdup(path))) {
		free(args);
		return;
	}
	camera.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (camera.stop_fd < 0) {
		free(args->path);
		free(args);
		return;
	}
	camera.generation = ++generation;
	args->stop_fd = camera.stop_fd;
	args->generation = camera.generation;
	err = pthread_create(&camera.thread, NULL, worker, args);
	if (err) {
		vitaled_error("camera: cannot start the worker: %s", strerror(err));
		close(camera.stop_fd);
		camera.stop_fd = -1;
		free(args->path);
		free(args);
		return;
	}
	camera.running = true;
	qr_line_init(&camera.line, camera.reader, 0);	/* a frame is a whole code */
	vitaled_reader_set_state(camera.reader, VITALED_READER_IDLE);
}

static void *zbar_symbol(const char *name, bool *ok)
{
	void *sym = dlsym(zbar.handle, name);

	if (!sym) {
		vitaled_error("camera: %s has no %s", ZBAR_LIBRARY, name);
		*ok = false;
	}
	return sym;
}

/* Once for the daemon's life: zbar and X11 are not made to be unloaded. */
static int zbar_load(void)
{
	bool ok = true;

	if (zbar.handle)
		return 0;
	zbar.handle = dlopen(ZBAR_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (!zbar.handle) {
		vitaled_error("camera: cannot load %s (Debian package libzbar0): %s",
				ZBAR_LIBRARY, dlerror());
		return -ELIBACC;
	}
#define ZBAR_RESOLVE(name) zbar.name = (__typeof__(zbar.name))zbar_symbol("zbar_" #name, &ok);
	ZBAR_CALLS(ZBAR_RESOLVE)
#undef ZBAR_RESOLVE
	zbar.error_string = (__typeof__(zbar.error_string))zbar_symbol("_zbar_error_string", &ok);
	if (!ok) {
		dlclose(zbar.handle);
		zbar.handle = NULL;
		return -ELIBACC;
	}
	return 0;
}

static void camera_exit(void)
{
	camera_stop();
	devwatch_free(devwatch);
	devwatch = NULL;
	if (camera.reader)
		vitaled_reader_remove(camera.reader);
	camera.reader = NULL;
	free(camera.path);
	camera.path = NULL;
}

static int camera_init(void)
{
	const char *device = vitaled_config_string("camera", "Device");
	char id[300];
	int err;

	if (!vitaled_config_bool("camera", "Enabled")) {
		vitaled_debug("camera: not enabled; nothing opened");
		return 0;
	}
	if (!device || device[0] != '/' || strpbrk(device, ",=*?[")) {
		vitaled_error("camera: Device: '%s' is not a device path", device ? device : "");
		return -EINVAL;
	}
	err = zbar_load();
	if (err < 0)
		return err;
	camera.path = strdup(device);
	if (!camera.path)
		return -ENOMEM;
	snprintf(id, sizeof(id), "camera-%s", device);
	camera.reader = vitaled_reader_add(id, device, VITALED_READER_CAMERA);
	if (!camera.reader) {
		camera_exit();
		return -ENOMEM;
	}
	vitaled_reader_set_state(camera.reader, VITALED_READER_UNAVAILABLE);
	err = devwatch_new("camera", device, camera_found, NULL, &devwatch);
	if (err < 0) {
		camera_exit();
		return err;
	}
	devwatch_rescan(devwatch);
	return 0;
}

VITALED_PLUGIN_DEFINE(camera, "Webcam QR code scanning (libzbar, V4L2)", VERSION,
		camera_options, camera_init, camera_exit)
