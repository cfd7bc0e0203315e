/*
 * conmon-attach: one `kubectl attach` session's bridge to conmon's attach socket, which Node cannot
 * open (SOCK_SEQPACKET). Built on first use by attach-helper.ts; see ../README.md.
 *
 *   conmon-attach SOCKET
 *
 * conmon sends each chunk of the container's output as one packet: a stream byte (2 stdout,
 * 3 stderr) then up to 8192 bytes. Every packet goes to stdout as a frame
 *   u32be length | packet
 * so the boundaries (and with them the stream bytes) survive the byte pipe; the first frame,
 * empty (length 0), says the socket is connected. Bytes read from stdin go to the socket, which
 * conmon writes to the container's stdin; stdin's end half-closes the socket (shutdown SHUT_WR),
 * which makes conmon close the container's stdin unless it runs with --leave-stdin-open.
 * Exit 0 when conmon closes the socket (the container exited), 1 on an error (message on stderr),
 * 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* conmon reads a packet into a 32 KiB buffer (CONN_SOCK_BUF_SIZE): a longer one would be cut */
#define IN_CHUNK 8192
/* conmon's packets are at most 1 + 8192 bytes (STDIO_BUF_SIZE); room to spare */
#define PKT_MAX 65536

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* a frame: the packet at buf + 4, its length before it */
static int frame(char *buf, size_t n)
{
	buf[0] = (char)(n >> 24);
	buf[1] = (char)(n >> 16);
	buf[2] = (char)(n >> 8);
	buf[3] = (char)n;
	return write_all(1, buf, n + 4);
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "conmon-attach: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '\0') {
		fprintf(stderr, "usage: conmon-attach SOCKET\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* through the directory's /proc/self/fd entry, as conmon binds it: sun_path holds 108 bytes,
	 * a bundle path may be longer */
	char *dirc = strdup(argv[1]), *basec = strdup(argv[1]);
	if (!dirc || !basec)
		return fail("memory for", argv[1]);
	int dfd = open(dirname(dirc), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail("open the directory of", argv[1]);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int len = snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dfd, basename(basec));
	if (len < 0 || (size_t)len >= sizeof addr.sun_path) {
		errno = ENAMETOOLONG;
		return fail("socket name", argv[1]);
	}
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail("socket for", argv[1]);
	if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0)
		return fail("connect", argv[1]);
	close(dfd);

	static char out[4 + PKT_MAX];
	static char in[IN_CHUNK];
	if (frame(out, 0) < 0)
		return 1;
	struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
	int stdin_open = 1;
	for (;;) {
		if (poll(p, stdin_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll", argv[1]);
		}
		if (p[0].revents) {
			ssize_t n = recv(s, out + 4, PKT_MAX, 0);
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				if (errno == ECONNRESET)
					return 0;
				return fail("receive from", argv[1]);
			}
			if (n == 0)
				return 0; /* conmon closed it: the container has exited */
			if (frame(out, (size_t)n) < 0)
				return 1; /* the reader is gone */
		}
		if (stdin_open && p[1].revents) {
			ssize_t n = read(0, in, sizeof in);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				shutdown(s, SHUT_WR);
				stdin_open = 0;
				continue;
			}
			for (;;) {
				if (send(s, in, (size_t)n, MSG_NOSIGNAL) >= 0)
					break;
				if (errno == EINTR)
					continue;
				/* conmon stopped reading (the container's stdin is closed): input is dropped */
				stdin_open = 0;
				break;
			}
		}
	}
}
