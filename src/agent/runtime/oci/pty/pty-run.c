/*
 * pty-run: runs a terminal `runtime exec` (runc, crun, runsc) on a terminal its caller can size while
 * it runs. Two ways (see ../README.md):
 *
 *   pty-run ROWS COLS CMD [ARG...]
 *     the terminal way (runc; runsc, whose exec has no --tty): CMD runs on a new pseudo-terminal
 *     as script(1) would run it, and copies that terminal's size to the container's (at its
 *     start and on each SIGWINCH).
 *   pty-run -c SOCKET ROWS COLS CMD [ARG...]
 *     the console-socket way (crun, which copies the size at the start only): CMD is `crun exec
 *     --process FILE --console-socket SOCKET ID` (FILE with terminal: true). pty-run listens on
 *     SOCKET (a path that must not exist; removed once used), the runtime sends it the container
 *     terminal's master (SCM_RIGHTS, as the OCI runtime spec's console socket says) and pty-run
 *     relays that terminal and sizes it itself. CMD's own stdout and stderr (the runtime's
 *     errors) go to pty-run's stderr, its stdin is /dev/null. (runc takes a console socket only
 *     with --detach.)
 *
 * ROWS COLS: the terminal's size at the start (0 0: not known yet).
 * fd 0: input typed at the terminal; its end sends the terminal's end-of-file character once.
 * fd 1: the terminal's output (stdout and stderr of everything on it, as a terminal has).
 * fd 3 (optional): lines "ROWS COLS\n", each setting the terminal's size (TIOCSWINSZ on the
 *   master: the kernel sends SIGWINCH to the terminal's foreground process group).
 * Exit: the command's exit code, 128+N if signal N ended it; 127 if it could not be run and 1 on
 * another error (message on stderr), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 8192
/* after the command exits, output still on its way through the terminal is read until this long a
 * pause, for at most DRAIN_MAX_MS (a process it left behind may hold the terminal: gVisor's sandbox
 * keeps the passed-in terminal while any process in there has it) */
#define DRAIN_MS 100
#define DRAIN_MAX_MS 1000

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

static int parse_size(const char *rows, const char *cols, struct winsize *ws)
{
	char *end;
	long r = strtol(rows, &end, 10);
	if (*rows == '\0' || *end != '\0' || r < 0 || r > 65535)
		return -1;
	long c = strtol(cols, &end, 10);
	if (*cols == '\0' || *end != '\0' || c < 0 || c > 65535)
		return -1;
	memset(ws, 0, sizeof(*ws));
	ws->ws_row = (unsigned short)r;
	ws->ws_col = (unsigned short)c;
	return 0;
}

/* the terminal's size as last asked; the master once there is one (-1 before the runtime sent it) */
static struct winsize want_size;
static int master = -1;

static void set_size(const struct winsize *ws)
{
	want_size = *ws;
	if (master >= 0 && (ws->ws_row || ws->ws_col) && ioctl(master, TIOCSWINSZ, ws) < 0)
		fprintf(stderr, "pty-run: TIOCSWINSZ: %s\n", strerror(errno));
}

/* applies each complete "ROWS COLS\n" line in buf; returns how many bytes it consumed */
static size_t apply_sizes(char *buf, size_t len)
{
	size_t used = 0;
	for (;;) {
		char *nl = memchr(buf + used, '\n', len - used);
		if (nl == NULL)
			return used;
		*nl = '\0';
		char *line = buf + used, *sp = strchr(line, ' ');
		struct winsize ws;
		if (sp != NULL) {
			*sp = '\0';
			if (parse_size(line, sp + 1, &ws) == 0)
				set_size(&ws);
		}
		used = (size_t)(nl - buf) + 1;
	}
}

/* CMD's stdio on the terminal way: the slave, also its controlling terminal in a session of its own */
static int stdio_on_terminal(int slave)
{
	if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) {
		fprintf(stderr, "pty-run: cannot make the terminal controlling: %s\n", strerror(errno));
		return -1;
	}
	return dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0 ? -1 : 0;
}

/* CMD's stdio on the console-socket way: stdin /dev/null, its output on our stderr */
static int stdio_beside(int unused)
{
	(void)unused;
	int null = open("/dev/null", O_RDONLY);
	return null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0 ? -1 : 0;
}

/* forks CMD with its stdio set by `stdio(arg)` in the child; -1 if it cannot fork */
static pid_t spawn(char **cmd, int (*stdio)(int), int arg)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pty-run: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (stdio(arg) < 0)
			_exit(1);
		execvp(cmd[0], cmd);
		fprintf(stderr, "pty-run: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* the terminal way: a new pseudo-terminal whose slave is CMD's stdio and controlling terminal */
static pid_t run_on_terminal(char **cmd)
{
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		fprintf(stderr, "pty-run: cannot open a pseudo-terminal: %s\n", strerror(errno));
		return -1;
	}
	char *slave_name = ptsname(master);
	int slave = slave_name ? open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	if (slave < 0) {
		fprintf(stderr, "pty-run: cannot open the terminal's slave: %s\n", strerror(errno));
		return -1;
	}
	set_size(&want_size);
	pid_t pid = spawn(cmd, stdio_on_terminal, slave);
	close(slave);
	return pid;
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof addr.sun_path) {
		fprintf(stderr, "pty-run: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1) < 0) {
		fprintf(stderr, "pty-run: cannot listen on %s: %s\n", path, strerror(errno));
		return -1;
	}
	return fd;
}

/* the master the runtime sends over its connection: one fd in SCM_RIGHTS (the payload, the
 * terminal's name, is not needed); -1 if the message has none */
static int receive_master(int listener)
{
	int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return -1;
	char name[4096];
	struct iovec iov = { .iov_base = name, .iov_len = sizeof name };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
	/* the connection is blocking: the runtime sends the terminal right after it connects */
	ssize_t got;
	do
		got = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	close(conn);
	struct cmsghdr *c = got >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
		fprintf(stderr, "pty-run: the runtime's console socket message carried no terminal\n");
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int main(int argc, char **argv)
{
	const char *socket_path = NULL;
	int first = 1;
	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		socket_path = argv[2];
		first = 3;
	}
	if (argc < first + 3 || parse_size(argv[first], argv[first + 1], &want_size) < 0) {
		fprintf(stderr, "usage: pty-run [-c SOCKET] ROWS COLS CMD [ARG...]\n");
		return 2;
	}
	char **cmd = argv + first + 2;
	/* before any other fd is opened: unless given, fd 3 would be one of ours */
	int sizes_open = fcntl(3, F_GETFD) >= 0;
	if (sizes_open)
		fcntl(3, F_SETFD, FD_CLOEXEC); /* ours only */
	signal(SIGPIPE, SIG_IGN);

	int listener = -1;
	if (socket_path != NULL && (listener = listen_on(socket_path)) < 0)
		return 1;
	pid_t pid = socket_path != NULL ? spawn(cmd, stdio_beside, 0) : run_on_terminal(cmd);
	if (pid < 0) {
		if (socket_path != NULL)
			unlink(socket_path);
		return 1;
	}

	int in_open = 1;
	/* input read but not yet taken by the terminal (its input queue full) */
	char in_buf[CHUNK];
	size_t in_len = 0, in_off = 0;
	int send_eof = 0;
	char eof_char = 4;
	int master_ready = 0;
	char size_buf[256];
	size_t size_len = 0;
	char out_buf[CHUNK];
	int status = 0, exited = 0;
	long long drain_until = 0;

	for (;;) {
		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				exited = 1;
				drain_until = now_ms() + DRAIN_MAX_MS;
			}
		} else if (master < 0 || now_ms() >= drain_until) {
			break;
		}
		if (master >= 0 && !master_ready) {
			master_ready = 1;
			/* the end-of-file character to send when input ends, as the terminal's settings say */
			struct termios tio;
			if (tcgetattr(master, &tio) == 0)
				eof_char = (char)tio.c_cc[VEOF];
			fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
		}
		struct pollfd fds[4];
		int n = 0, i_master = -1, i_listen = -1, i_in = -1, i_sizes = -1;
		if (master >= 0) {
			i_master = n++;
			fds[i_master].fd = master;
			fds[i_master].events = POLLIN | ((in_len > in_off || send_eof) ? POLLOUT : 0);
			if (in_open && in_len == in_off && !send_eof && !exited) {
				i_in = n++;
				fds[i_in].fd = 0;
				fds[i_in].events = POLLIN;
			}
		} else if (listener >= 0) {
			i_listen = n++;
			fds[i_listen].fd = listener;
			fds[i_listen].events = POLLIN;
		}
		if (sizes_open && !exited) {
			i_sizes = n++;
			fds[i_sizes].fd = 3;
			fds[i_sizes].events = POLLIN;
		}
		/* while the command runs, wake now and then to reap it (SIGCHLD is not waited on) */
		int r = poll(fds, (nfds_t)n, exited ? DRAIN_MS : 50);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pty-run: poll: %s\n", strerror(errno));
			return 1;
		}
		if (r == 0 && exited)
			break;
		if (i_listen >= 0 && (fds[i_listen].revents & POLLIN)) {
			master = receive_master(listener);
			if (master >= 0) {
				close(listener);
				listener = -1;
				unlink(socket_path);
				set_size(&want_size);
			}
		}
		if (i_master >= 0 && (fds[i_master].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(master, out_buf, sizeof out_buf);
			if (got > 0) {
				if (write_all(1, out_buf, (size_t)got) < 0 && errno == EPIPE)
					break; /* nobody reads the output any more */
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* EIO: no process has the terminal open any more */
				if (exited)
					break;
				/* the command still runs (it closed the terminal): wait for it */
				if (waitpid(pid, &status, 0) == pid)
					exited = 1;
				break;
			}
		}
		if (i_master >= 0 && (fds[i_master].revents & POLLOUT)) {
			if (in_len > in_off) {
				ssize_t w = write(master, in_buf + in_off, in_len - in_off);
				if (w > 0)
					in_off += (size_t)w;
				if (in_off == in_len)
					in_off = in_len = 0;
			} else if (send_eof) {
				if (write(master, &eof_char, 1) == 1)
					send_eof = 0;
			}
		}
		if (i_in >= 0 && (fds[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(0, in_buf, sizeof in_buf);
			if (got > 0) {
				in_len = (size_t)got;
				in_off = 0;
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				in_open = 0;
				send_eof = 1;
			}
		}
		if (i_sizes >= 0 && (fds[i_sizes].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(3, size_buf + size_len, sizeof size_buf - size_len);
			if (got > 0) {
				size_len += (size_t)got;
				size_t used = apply_sizes(size_buf, size_len);
				memmove(size_buf, size_buf + used, size_len - used);
				size_len -= used;
				/* a line longer than the buffer is not a size: drop it */
				if (size_len == sizeof size_buf)
					size_len = 0;
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				sizes_open = 0;
			}
		}
	}
	if (listener >= 0)
		unlink(socket_path);
	if (!exited && waitpid(pid, &status, 0) != pid)
		return 1;
	return exit_code(status);
}
