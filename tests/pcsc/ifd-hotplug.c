/*
 * A test IFD handler for a hot-plugged USB reader (tests only, never
 * installed).
 *
 * pcscd hot-plugs only USB readers that libudev shows and that match a
 * bundle in its drop directory.  tests/test-pcsc-hotplug.py gives pcscd a
 * fake USB device (umockdev) and a bundle naming this handler, so the
 * real pcscd adds and removes a reader as the device comes and goes.
 * The card side is the emulators of tests/emu: like vpcd, each reader
 * listens on 127.0.0.1 and the emulator connects to it (messages are a
 * 2-byte big-endian length and a body; a 1-byte body is a power
 * command).  The port is VTEST_IFD_PORT_BASE (default 36000) plus the
 * USB device number, so a replugged device keeps its port.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* the build hides symbols by default: pcscd looks these up by name */
#pragma GCC visibility push(default)
#include <ifdhandler.h>
#pragma GCC visibility pop
#include <reader.h>

#define MAX_READERS	16
#define CTRL_OFF	0
#define CTRL_ON		1
#define CTRL_RESET	2
#define CTRL_ATR	4
#define IO_TIMEOUT_MS	60000	/* a hung emulator must not hold pcscd forever */

struct slot {
	bool used;
	bool inited;		/* lock made once, never destroyed: a late
				 * caller may still hold the slot's address */
	DWORD lun;
	int listen_fd;
	int fd;			/* the emulator, -1 when no card */
	UCHAR atr[MAX_ATR_SIZE];
	DWORD atr_len;
	pthread_mutex_t lock;	/* I/O vs presence polling vs close */
};

static struct slot slots[MAX_READERS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static struct slot *find(DWORD lun)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_READERS; i++)
		if (slots[i].used && slots[i].lun == lun)
			s = &slots[i];
	pthread_mutex_unlock(&table_lock);
	return s;
}

static RESPONSECODE open_slot(DWORD lun, unsigned int port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct slot *s = NULL;
	int one = 1, fd;

	if (!port || port > 65535 || find(lun))
		return IFD_COMMUNICATION_ERROR;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return IFD_COMMUNICATION_ERROR;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 1)) {
		fprintf(stderr, "ifd-hotplug: cannot listen on port %u: %s\n", port,
				strerror(errno));
		close(fd);
		return IFD_COMMUNICATION_ERROR;
	}
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_READERS && !s; i++)
		if (!slots[i].used)
			s = &slots[i];
	if (s) {
		s->used = true;
		s->lun = lun;
		s->listen_fd = fd;
		s->fd = -1;
		s->atr_len = 0;
		if (!s->inited)
			pthread_mutex_init(&s->lock, NULL);
		s->inited = true;
	}
	pthread_mutex_unlock(&table_lock);
	if (!s) {
		close(fd);
		return IFD_COMMUNICATION_ERROR;
	}
	return IFD_SUCCESS;
}

/* The card left: the emulator hung up or a message failed. */
static void card_gone(struct slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->atr_len = 0;
}

static bool wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rv;

	do
		rv = poll(&p, 1, IO_TIMEOUT_MS);
	while (rv < 0 && errno == EINTR);
	return rv > 0 && (p.revents & events);
}

static bool io_all(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n;

		if (!wait_fd(fd, out ? POLLOUT : POLLIN))
			return false;
		n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool send_msg(struct slot *s, const UCHAR *body, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (s->fd < 0 || len > 0xFFFF ||
	    !io_all(s->fd, hdr, 2, true) || !io_all(s->fd, (void *)body, len, true)) {
		card_gone(s);
		return false;
	}
	return true;
}

/* Receive one message into buf (at most *len bytes); false when the card left. */
static bool recv_msg(struct slot *s, UCHAR *buf, DWORD *len)
{
	uint8_t hdr[2];
	size_t n;

	if (s->fd < 0 || !io_all(s->fd, hdr, 2, false)) {
		card_gone(s);
		return false;
	}
	n = (size_t)hdr[0] << 8 | hdr[1];
	if (n > *len || !io_all(s->fd, buf, n, false)) {
		card_gone(s);
		return false;
	}
	*len = (DWORD)n;
	return true;
}

static bool ctrl(struct slot *s, UCHAR code)
{
	return send_msg(s, &code, 1);
}

/* Accept a waiting emulator; notice one that hung up. */
static bool present(struct slot *s)
{
	if (s->fd < 0) {
		int one = 1;

		s->fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (s->fd >= 0)
			setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else {
		struct pollfd p = { .fd = s->fd, .events = POLLIN | POLLRDHUP };
		char c;

		/* between commands the emulator never speaks: readable = gone */
		if (poll(&p, 1, 0) > 0 && recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
			card_gone(s);
	}
	return s->fd >= 0;
}

/* usb:VVVV/PPPP:libudev:N:/dev/bus/usb/BBB/DDD: the port follows DDD. */
RESPONSECODE IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
	const char *base = getenv("VTEST_IFD_PORT_BASE");
	const char *slash = strrchr(DeviceName, '/');
	char *end;
	long dev;

	if (strncmp(DeviceName, "usb:", 4) || !slash)
		return IFD_NO_SUCH_DEVICE;
	dev = strtol(slash + 1, &end, 10);
	if (*end || dev <= 0 || dev > 127)
		return IFD_NO_SUCH_DEVICE;
	return open_slot(Lun, (unsigned int)((base ? atoi(base) : 36000) + dev));
}

/* reader.conf without DEVICENAME: the channel is the port. */
RESPONSECODE IFDHCreateChannel(DWORD Lun, DWORD Channel)
{
	return open_slot(Lun, (unsigned int)Channel);
}

RESPONSECODE IFDHCloseChannel(DWORD Lun)
{
	struct slot *s = find(Lun);

	if (!s)
		return IFD_NO_SUCH_DEVICE;
	pthread_mutex_lock(&s->lock);
	card_gone(s);
	close(s->listen_fd);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&table_lock);
	s->used = false;
	pthread_mutex_unlock(&table_lock);
	return IFD_SUCCESS;
}

RESPONSECODE IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length, PUCHAR Value)
{
	struct slot *s = find(Lun);
	RESPONSECODE rv = IFD_SUCCESS;

	if (!s)
		return IFD_NO_SUCH_DEVICE;
	pthread_mutex_lock(&s->lock);
	switch (Tag) {
	case TAG_IFD_ATR:
	case SCARD_ATTR_ATR_STRING:
		if (*Length < s->atr_len) {
			rv = IFD_ERROR_INSUFFICIENT_BUFFER;
			break;
		}
		memcpy(Value, s->atr, s->atr_len);
		*Length = s->atr_len;
		break;
	case TAG_IFD_SLOTS_NUMBER:		/* one slot per reader */
	case TAG_IFD_SIMULTANEOUS_ACCESS:	/* readers this handler serves */
		if (*Length < 1) {
			rv = IFD_ERROR_INSUFFICIENT_BUFFER;
			break;
		}
		Value[0] = Tag == TAG_IFD_SLOTS_NUMBER ? 1 : MAX_READERS;
		*Length = 1;
		break;
	default:
		rv = IFD_ERROR_TAG;
	}
	pthread_mutex_unlock(&s->lock);
	return rv;
}

RESPONSECODE IFDHSetCapabilities(DWORD Lun, DWORD Tag, DWORD Length, PUCHAR Value)
{
	(void)Tag;
	(void)Length;
	(void)Value;
	return find(Lun) ? IFD_ERROR_TAG : IFD_NO_SUCH_DEVICE;
}

/* The emulator speaks APDUs whatever the protocol: nothing to negotiate. */
RESPONSECODE IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags,
		UCHAR PTS1, UCHAR PTS2, UCHAR PTS3)
{
	(void)Protocol;
	(void)Flags;
	(void)PTS1;
	(void)PTS2;
	(void)PTS3;
	return find(Lun) ? IFD_SUCCESS : IFD_NO_SUCH_DEVICE;
}

RESPONSECODE IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr, PDWORD AtrLength)
{
	struct slot *s = find(Lun);
	RESPONSECODE rv = IFD_SUCCESS;

	if (!s)
		return IFD_NO_SUCH_DEVICE;
	pthread_mutex_lock(&s->lock);
	if (!present(s)) {
		rv = IFD_ICC_NOT_PRESENT;
	} else if (Action == IFD_POWER_DOWN) {
		if (!ctrl(s, CTRL_OFF))
			rv = IFD_ERROR_POWER_ACTION;
		*AtrLength = 0;
	} else if (Action == IFD_POWER_UP || Action == IFD_RESET) {
		DWORD len = sizeof(s->atr);

		if (!ctrl(s, Action == IFD_RESET ? CTRL_RESET : CTRL_ON) ||
		    !ctrl(s, CTRL_ATR) || !recv_msg(s, s->atr, &len) ||
		    len > *AtrLength) {
			rv = IFD_ERROR_POWER_ACTION;
			*AtrLength = 0;
		} else {
			s->atr_len = len;
			memcpy(Atr, s->atr, len);
			*AtrLength = len;
		}
	} else {
		rv = IFD_NOT_SUPPORTED;
	}
	pthread_mutex_unlock(&s->lock);
	return rv;
}

RESPONSECODE IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer,
		DWORD TxLength, PUCHAR RxBuffer, PDWORD RxLength, PSCARD_IO_HEADER RecvPci)
{
	struct slot *s = find(Lun);
	RESPONSECODE rv = IFD_SUCCESS;

	(void)SendPci;
	(void)RecvPci;
	if (!s)
		return IFD_NO_SUCH_DEVICE;
	pthread_mutex_lock(&s->lock);
	if (!send_msg(s, TxBuffer, TxLength) || !recv_msg(s, RxBuffer, RxLength)) {
		*RxLength = 0;
		rv = IFD_COMMUNICATION_ERROR;
	}
	pthread_mutex_unlock(&s->lock);
	return rv;
}

RESPONSECODE IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength,
		PUCHAR RxBuffer, DWORD RxLength, LPDWORD pdwBytesReturned)
{
	(void)dwControlCode;
	(void)TxBuffer;
	(void)TxLength;
	(void)RxBuffer;
	(void)RxLength;
	*pdwBytesReturned = 0;
	return find(Lun) ? IFD_ERROR_NOT_SUPPORTED : IFD_NO_SUCH_DEVICE;
}

RESPONSECODE IFDHICCPresence(DWORD Lun)
{
	struct slot *s = find(Lun);
	bool here;

	if (!s)
		return IFD_NO_SUCH_DEVICE;
	pthread_mutex_lock(&s->lock);
	here = present(s);
	pthread_mutex_unlock(&s->lock);
	return here ? IFD_ICC_PRESENT : IFD_ICC_NOT_PRESENT;
}
