/*
 * The floor of bench-share's keyboard wedge: the least a program can do to
 * pass a wedge scanner's code on to a virtual keyboard.  It reads key
 * events from the evdev node given and, once Enter is released (and its
 * SYN_REPORT has come), writes the code's events to /dev/uinput in one
 * write(), as they came.  No layout, no token check, no grab, no setup of
 * the virtual device: under umockdev (the only /dev/uinput the benchmark
 * has) its ioctls cost nothing worth measuring.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_EVENTS	4096

static struct input_event buf[MAX_EVENTS];

static int code_ended(size_t n)
{
	return n >= 2 && buf[n - 2].type == EV_KEY && buf[n - 2].code == KEY_ENTER &&
		buf[n - 2].value == 0 && buf[n - 1].type == EV_SYN;
}

int main(int argc, char **argv)
{
	struct pollfd p;
	size_t bytes = 0;
	int out;

	if (argc != 2) {
		fprintf(stderr, "usage: %s EVDEV-NODE\n", argv[0]);
		return 2;
	}
	p.fd = open(argv[1], O_RDONLY | O_NONBLOCK);
	out = open("/dev/uinput", O_WRONLY);
	if (p.fd < 0 || out < 0) {
		perror("open");
		return 1;
	}
	p.events = POLLIN;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t n;

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return 1;
		n = read(p.fd, (char *)buf + bytes, sizeof(buf) - bytes);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return n < 0;
		bytes += (size_t)n;
		if (bytes % sizeof(buf[0]) == 0 && code_ended(bytes / sizeof(buf[0]))) {
			if (write(out, buf, bytes) != (ssize_t)bytes)
				return 1;
			bytes = 0;
		} else if (bytes == sizeof(buf)) {
			bytes = 0;	/* no Enter in a whole buffer: not a code */
		}
	}
}
