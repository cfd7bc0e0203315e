/*
 * netbench: the network bench's workload, one static binary that runs the same way as a bare
 * process, in a runc or gVisor container and inside a microVM guest (no libc beyond what
 * `gcc -static` links in, no name resolution).
 *
 *   netbench serve PORT
 *       TCP echo on PORT, UDP echo on PORT+1, TCP sink on PORT+2 (on EOF it answers the byte
 *       count it read as 8 bytes, big-endian). Prints "ready" once all three are bound.
 *   netbench client HOST PORT RR_COUNT SECONDS
 *       TCP_RR (1-byte request/response over one connection, RR_COUNT round trips), UDP_RR (same,
 *       lost datagrams resent after 200 ms), then a TCP stream of 128 B and of 1024 B writes for
 *       SECONDS each, counted by the sink. Prints one line:
 *       {"tcp_rr":<per s>,"udp_rr":<per s>,"bits128":<bit/s>,"bits1024":<bit/s>,"udp_lost":<n>,
 *        "tcp_rr_cpu_us":<the client's CPU time per TCP round trip>}
 *   netbench rr HOST PORT RR_COUNT
 *       TCP_RR only; prints {"tcp_rr":<per s>,"tcp_rr_cpu_us":<µs>}
 *   netbench udprr HOST PORT RR_COUNT
 *       UDP_RR only, to PORT itself (a server's UDP echo is on its PORT+1); prints
 *       {"udp_rr":<per s>,"udp_rr_cpu_us":<µs>,"udp_lost":<n>}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "netbench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* this process's CPU time (user + system, incl. the softirq work done in its context) in µs */
static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static struct sockaddr_in addr_of(const char *host, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "netbench: %s is not an IPv4 address\n", host);
    exit(2);
  }
  return a;
}

static int listen_tcp(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (s < 0) die("socket");
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = addr_of("0.0.0.0", port);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind tcp");
  if (listen(s, 16) < 0) die("listen");
  return s;
}

/* waits for fd to be ready: gVisor's host-network sockets can answer EAGAIN on a blocking socket */
static void await_fd(int fd, short ev) {
  struct pollfd p = {fd, ev, 0};
  poll(&p, 1, 1000);
}

static ssize_t read_some(int fd, void *b, size_t n) {
  for (;;) {
    ssize_t r = read(fd, b, n);
    if (r >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) return r;
    await_fd(fd, POLLIN);
  }
}

static int write_all(int fd, const char *b, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        await_fd(fd, POLLOUT);
        continue;
      }
      return -1;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static void echo_conn(int c) {
  int one = 1;
  char buf[65536];
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (;;) {
    ssize_t r = read_some(c, buf, sizeof buf);
    if (r <= 0 || write_all(c, buf, (size_t)r) < 0) break;
  }
}

static void sink_conn(int c) {
  char buf[65536];
  uint64_t total = 0;
  for (;;) {
    ssize_t r = read_some(c, buf, sizeof buf);
    if (r <= 0) break;
    total += (uint64_t)r;
  }
  unsigned char out[8];
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(total >> (56 - 8 * i));
  write_all(c, (char *)out, 8);
}

static int serve(int port) {
  signal(SIGCHLD, SIG_IGN); /* connection children are reaped by the kernel */
  int echo = listen_tcp(port), sink = listen_tcp(port + 2);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  if (u < 0) die("socket udp");
  struct sockaddr_in a = addr_of("0.0.0.0", port + 1);
  if (bind(u, (struct sockaddr *)&a, sizeof a) < 0) die("bind udp");
  printf("ready\n");
  fflush(stdout);
  if (fork() == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* killing the server by its PID ends its children too */
    char buf[2048];
    for (;;) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t r = recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (r > 0) sendto(u, buf, (size_t)r, 0, (struct sockaddr *)&from, fl);
    }
  }
  struct pollfd p[2] = {{echo, POLLIN, 0}, {sink, POLLIN, 0}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      int c = accept(p[i].fd, NULL, NULL);
      if (c < 0) continue;
      if (fork() == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (i == 0) echo_conn(c);
        else sink_conn(c);
        _exit(0);
      }
      close(c);
    }
  }
}

static int connect_tcp(const char *host, int port) {
  struct sockaddr_in a = addr_of(host, port);
  for (int attempt = 0;; attempt++) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (s < 0) die("socket");
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) return s;
    close(s);
    if (attempt >= 100) die("connect");
    usleep(100000); /* the server may still be starting (a microVM guest boots slowly) */
  }
}

static double tcp_rr(const char *host, int port, long n, double *cpu_per_rr) {
  int s = connect_tcp(host, port);
  char b = 'x';
  double c0 = cpu_us();
  double t0 = now();
  for (long i = 0; i < n; i++) {
    if (write_all(s, &b, 1) < 0) die("tcp_rr write");
    if (read_some(s, &b, 1) != 1) die("tcp_rr read");
  }
  double dt = now() - t0;
  *cpu_per_rr = (cpu_us() - c0) / n;
  close(s);
  return n / dt;
}

static double udp_rr(const char *host, int port, long n, long *lost, double *cpu_per_rr) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = addr_of(host, port);
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("udp connect");
  struct timeval tv = {0, 200000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b = 'x';
  *lost = 0;
  double c0 = cpu_us();
  double t0 = now();
  for (long i = 0; i < n; i++) {
    for (;;) {
      if (send(s, &b, 1, 0) != 1) die("udp send");
      if (recv(s, &b, 1, 0) == 1) break;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) die("udp recv");
      if (++*lost > 1000) die("udp_rr: too many lost datagrams");
    }
  }
  double dt = now() - t0;
  if (cpu_per_rr) *cpu_per_rr = (cpu_us() - c0) / n;
  close(s);
  return n / dt;
}

static double stream(const char *host, int port, size_t len, double seconds) {
  int s = connect_tcp(host, port);
  int zero = 0;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof zero); /* a bulk stream, as iperf3 */
  char *buf = calloc(1, len);
  double t0 = now(), end = t0 + seconds;
  long k = 0;
  for (;;) {
    if (write_all(s, buf, len) < 0) die("stream write");
    if ((++k & 63) == 0 && now() >= end) break;
  }
  shutdown(s, SHUT_WR);
  unsigned char in[8];
  size_t got = 0;
  while (got < 8) {
    ssize_t r = read_some(s, in + got, 8 - got);
    if (r <= 0) die("stream count");
    got += (size_t)r;
  }
  double dt = now() - t0;
  uint64_t total = 0;
  for (int i = 0; i < 8; i++) total = (total << 8) | in[i];
  close(s);
  free(buf);
  return total * 8.0 / dt;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(atoi(argv[2]));
  if (argc == 6 && strcmp(argv[1], "client") == 0) {
    const char *host = argv[2];
    int port = atoi(argv[3]);
    long n = atol(argv[4]);
    double secs = atof(argv[5]);
    long lost = 0;
    double tcpu = 0;
    double t = tcp_rr(host, port, n, &tcpu);
    double u = udp_rr(host, port + 1, n, &lost, NULL);
    double s128 = stream(host, port + 2, 128, secs);
    double s1024 = stream(host, port + 2, 1024, secs);
    printf("{\"tcp_rr\":%.1f,\"udp_rr\":%.1f,\"bits128\":%.0f,\"bits1024\":%.0f,\"udp_lost\":%ld,\"tcp_rr_cpu_us\":%.2f}\n", t, u, s128, s1024, lost, tcpu);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "rr") == 0) {
    double tcpu = 0;
    double t = tcp_rr(argv[2], atoi(argv[3]), atol(argv[4]), &tcpu);
    printf("{\"tcp_rr\":%.1f,\"tcp_rr_cpu_us\":%.2f}\n", t, tcpu);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "udprr") == 0) {
    double ucpu = 0;
    long lost = 0;
    double u = udp_rr(argv[2], atoi(argv[3]), atol(argv[4]), &lost, &ucpu);
    printf("{\"udp_rr\":%.1f,\"udp_rr_cpu_us\":%.2f,\"udp_lost\":%ld}\n", u, ucpu, lost);
    return 0;
  }
  fprintf(stderr, "usage: netbench serve PORT | netbench client HOST PORT RR_COUNT SECONDS\n");
  return 2;
}
