/*
 * hedge guest agent: PID 1 of the microVM (after /init has loaded modules).
 * Talks to the host over one virtio-serial port with binary frames (see ../README.md):
 *   u32be len | u8 type | u32be id | payload[len-5]
 * Single-threaded poll loop: the port, every child's stdout/stderr pipe (or pty), its stdin
 * while buffered bytes wait for room (stdin is never written blocking: a bounded buffer per
 * process, credited back to the host, which keeps to that window) and a signalfd for SIGCHLD.
 * Writes to the port block while the host is disconnected (the guest driver does that), but that
 * alone does not make output reliable: bytes qemu already wrote into the host's socket, or the
 * host read but had not written to the log, are gone when the host process stops. So output
 * goes in G_OUTPUT frames carrying the stream's byte offset, stays in a bounded per-stream buffer
 * until the host acknowledges it (H_ACK, sent once it is in the CRI log), and a hello from a
 * (re)connected host says where each stream resumes; everything after that is sent again. A full
 * buffer stops reading the child's pipe: the writer blocks, nothing is dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/statfs.h>
#include <unistd.h>

enum {
  H_START = 1, H_STDIN = 2, H_SIGNAL = 3, H_STATS = 4, H_HELLO = 5, H_MOUNT = 6, H_UMOUNT = 7,
  G_HELLO = 0x81, G_STARTED = 0x82, G_ERROR = 0x83, G_STDOUT = 0x84, G_STDERR = 0x85,
  G_EXIT = 0x86, G_STATS = 0x87, G_MOUNTED = 0x88,
  H_ACK = 8, G_OUTPUT = 0x89,
  H_RESIZE = 9, G_STDIN_CREDIT = 0x8a,
};

/*
 * What this agent speaks beyond the first protocol, announced as the third line of its hello
 * (`agent <version> <feature>...`; a guest without the line is version 1): `tty` = start entry `Y`
 * and H_RESIZE; `stdin-window=N` = stdin is buffered (N bytes per process) and every byte written
 * into the process's stdin is credited back (G_STDIN_CREDIT), so a host sends at most N unacknowledged.
 */
#define AGENT_VERSION 2
/* per-process stdin buffer: the host's window. A host that ignores it (an older one) is taken up to IBUF_HARD, then written blocking as before */
#define IBUF_MAX (64 * 1024)
#define IBUF_HARD (4 * IBUF_MAX)

#define MAXP 64
#define MAXFRAME (1 << 20)

/* unacknowledged output of one stream: bytes [acked, acked + len), of which `sent` went out on this connection */
struct obuf {
  char *b;
  size_t cap, len, sent;
  uint64_t acked;
};
/* per stream; past it the pipe is not read, so the writer blocks (back-pressure) */
#define OBUF_MAX (512 * 1024)
/* the virtio console driver takes at most 32 KiB per write(): one output frame = one write */
#define OCHUNK (32 * 1024 - 32)

struct proc {
  uint32_t id;
  pid_t pid;
  int out, err, in;
  /* the pty master (a dup, for resizes) of a process started with a terminal; -1 without */
  int tty;
  /* stdin not yet written into the process (it is non-blocking): bytes, and `iskip` of them came before the last hello (not credited to the new host) */
  char *ib;
  size_t ilen, icap, iskip;
  int ieof;
  int exited;
  int status;
  struct obuf ob[2];
  /* a container's own process (`T<key>`): its exit carries the end of that container's termination message file */
  char tkey[64];
  char *tmsg;
  size_t tlen;
};
/* the most of a termination message file an exit carries: its last 4 KiB, as the kubelet reads it */
#define TMSG_MAX 4096

static struct proc procs[MAXP];
static int port = -1;
static char *logbuf;

static void die(const char *m) {
  fprintf(stderr, "hedge-agent: %s: %s\n", m, strerror(errno));
  sync();
  // a reset, not a power-off: qemu runs with -no-reboot, so a reset ends it on every guest kernel,
  // while power-off needs ACPI, which the tailored kernel boots without (it would only halt)
  reboot(RB_AUTOBOOT);
  _exit(1);
}

static void writeall(int fd, const void *b, size_t n) {
  const char *p = b;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) { usleep(1000); continue; }
      die("write port");
    }
    p += w; n -= (size_t)w;
  }
}

/* blocking write to a process's stdin (an older host's way); an error ends it quietly */
static void writeall_fd(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w; n -= (size_t)w;
  }
}

static void put32(unsigned char *b, uint32_t v) { b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v; }
static uint32_t get32(const unsigned char *b) { return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3]; }

/*
 * Header and payload in one write(): a frame of up to 32 KiB is then never split between two
 * host connections (a write blocked while the host is away queues nothing; qemu discards what a
 * closing host did not take).
 */
static void sendf(int type, uint32_t id, const void *p, size_t n) {
  static unsigned char f[9 + OCHUNK + 16];
  unsigned char h[9];
  put32(h, (uint32_t)(n + 5)); h[4] = (unsigned char)type; put32(h + 5, id);
  if (n <= OCHUNK + 16) {
    memcpy(f, h, 9);
    if (n) memcpy(f + 9, p, n);
    writeall(port, f, 9 + n);
    return;
  }
  writeall(port, h, 9);
  writeall(port, p, n);
}

static void put64(unsigned char *b, uint64_t v) { put32(b, (uint32_t)(v >> 32)); put32(b + 4, (uint32_t)v); }

/* G_OUTPUT: u8 stream (1 stdout, 2 stderr) | u64be offset of the first byte | bytes */
static void send_output(struct proc *pr, int s) {
  static unsigned char f[9 + OCHUNK];
  struct obuf *o = &pr->ob[s];
  while (o->sent < o->len) {
    size_t n = o->len - o->sent;
    if (n > OCHUNK - 9) n = OCHUNK - 9;
    f[0] = (unsigned char)(s + 1);
    put64(f + 1, o->acked + o->sent);
    memcpy(f + 9, o->b + o->sent, n);
    o->sent += n;
    sendf(G_OUTPUT, pr->id, f, 9 + n);
  }
}

/* the host has bytes [0, upto) of the stream in its log: they need not be kept (or sent) again */
static void obuf_ack(struct obuf *o, uint64_t upto) {
  if (upto <= o->acked) return;
  size_t d = upto - o->acked > o->len ? o->len : (size_t)(upto - o->acked);
  memmove(o->b, o->b + d, o->len - d);
  o->len -= d;
  o->sent = o->sent > d ? o->sent - d : 0;
  o->acked += d;
}

static void obuf_free(struct proc *pr) {
  for (int s = 0; s < 2; s++) free(pr->ob[s].b);
  free(pr->tmsg);
  free(pr->ib);
}

static void proc_clear(struct proc *pr) {
  memset(pr, 0, sizeof *pr);
  pr->out = pr->err = pr->in = pr->tty = -1;
}

/* G_EXIT: u32be wait status, then the termination message (if the process has one) */
static void send_exit(const struct proc *pr) {
  unsigned char b[4 + TMSG_MAX];
  put32(b, (uint32_t)pr->status);
  if (pr->tlen) memcpy(b + 4, pr->tmsg, pr->tlen);
  sendf(G_EXIT, pr->id, b, 4 + pr->tlen);
}

static void senderr(uint32_t id, const char *what) {
  char m[512];
  int n = snprintf(m, sizeof m, "%s: %s", what, strerror(errno));
  sendf(G_ERROR, id, m, (size_t)n);
}

static void readall(int fd, void *b, size_t n) {
  char *p = b;
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) {
      struct pollfd pf = { fd, POLLIN, 0 };
      poll(&pf, 1, -1);
      continue;
    }
    /* host closed the chardev: the guest sees EOF/EPIPE until it reconnects; wait for it */
    if (r <= 0) { usleep(20000); continue; }
    p += r; n -= (size_t)r;
  }
}

static struct proc *findp(uint32_t id) {
  for (int i = 0; i < MAXP; i++) if (procs[i].id == id) return &procs[i];
  return NULL;
}

/*
 * A (re)connected host: its hello payload lists, per process stream, how far its log got
 * (u32be id | u8 stream | u64be offset, repeated). Unacknowledged output after that is sent again,
 * in order, before a replayed exit.
 */
static void hello(const unsigned char *p, size_t n) {
  for (size_t off = 0; off + 13 <= n; off += 13) {
    struct proc *pr = findp(get32(p + off));
    int s = p[off + 4] - 1;
    uint64_t at = ((uint64_t)get32(p + off + 5) << 32) | get32(p + off + 9);
    if (pr && (s == 0 || s == 1)) obuf_ack(&pr->ob[s], at);
  }
  struct utsname u;
  char b[512];
  uname(&u);
  int m = snprintf(b, sizeof b, "%s\n%s\nagent %d tty stdin-window=%d", u.release, u.version, AGENT_VERSION, IBUF_MAX);
  sendf(G_HELLO, 0, b, (size_t)m);
  /* a new host starts with a full window: what an earlier one left in the buffers is not credited to it */
  for (int i = 0; i < MAXP; i++) procs[i].iskip = procs[i].ilen;
  /* replay what the (possibly restarted) host may have missed */
  for (int i = 0; i < MAXP; i++) {
    if (!procs[i].id) continue;
    unsigned char pb[4];
    put32(pb, (uint32_t)procs[i].pid);
    sendf(G_STARTED, procs[i].id, pb, 4);
    for (int s = 0; s < 2; s++) { procs[i].ob[s].sent = 0; send_output(&procs[i], s); }
    if (procs[i].exited) send_exit(&procs[i]);
  }
}

/* entries: NUL-terminated strings, first byte is the key */
struct startreq {
  char *argv[256]; int argc;
  char *envp[256]; int envc;
  const char *cwd, *root, *rlimits[16];
  int nrl;
  uid_t uid; gid_t gid;
  gid_t groups[32]; int ngroups;
  int stdin_pipe, tty;
  unsigned short cols, rows;
  const char *cgroup, *mem_max, *cpu_max, *pids_max, *tkey;
};

static int mkdirs(const char *path, mode_t mode) {
  char b[512];
  snprintf(b, sizeof b, "%s", path);
  for (char *p = b + 1; *p; p++) {
    if (*p == '/') { *p = 0; if (mkdir(b, mode) < 0 && errno != EEXIST) return -1; *p = '/'; }
  }
  if (mkdir(b, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

static int rlimit_res(const char *n) {
  if (!strcmp(n, "NOFILE")) return RLIMIT_NOFILE;
  if (!strcmp(n, "NPROC")) return RLIMIT_NPROC;
  if (!strcmp(n, "CORE")) return RLIMIT_CORE;
  if (!strcmp(n, "STACK")) return RLIMIT_STACK;
  if (!strcmp(n, "AS")) return RLIMIT_AS;
  return -1;
}

/*
 * Per-container accounting: cgroup v2 at /sys/fs/cgroup (mounted on first use), one cgroup per
 * container at /sys/fs/cgroup/c/<key> (the host's mount key, `Q` in a start request) with the
 * cpu, memory, io and pids controllers the kernel has. Every process started for that container
 * (its main process and execs) joins it, and the container's limits (`M` memory.max, `P` cpu.max,
 * `N` pids.max) are set on it. A kernel without cgroups (the tailored one before it had them) gets
 * no cgroup: the start still works and stats stay VM-wide, which the host sees by the cgroup's absence.
 */
#define CGROOT "/sys/fs/cgroup"
static int writefile(const char *root, const char *path, const char *data, size_t n);
static int cg_state; /* 0 untried, 1 ready, -1 the kernel has no cgroup v2 */

static void cg_enable(const char *dir) {
  static const char *ctl[] = { "+cpu", "+memory", "+io", "+pids" };
  char p[300];
  snprintf(p, sizeof p, "%s/cgroup.subtree_control", dir);
  /* one at a time: a controller the kernel lacks must not keep the others off */
  for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) writefile("", p, ctl[i], strlen(ctl[i]));
}

static int cg_ready(void) {
  if (cg_state) return cg_state > 0;
  cg_state = -1;
  if (mkdirs(CGROOT, 0755) && errno != EEXIST) return 0;
  if (mount("cgroup2", CGROOT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "") && errno != EBUSY) return 0;
  cg_enable(CGROOT);
  if (mkdirs(CGROOT "/c", 0755)) return 0;
  cg_enable(CGROOT "/c");
  cg_state = 1;
  return 1;
}

/* creates the container's cgroup and sets its limits; procs gets the cgroup.procs path to join it ("" without cgroups) */
static int cg_container(const struct startreq *r, char *procs, size_t pl) {
  if (!r->cgroup[0] || strlen(r->cgroup) > 64 || strchr(r->cgroup, '/') || r->cgroup[0] == '.') { errno = EINVAL; return -1; }
  if (!cg_ready()) return 0;
  char dir[128], p[160];
  snprintf(dir, sizeof dir, CGROOT "/c/%.64s", r->cgroup);
  if (mkdirs(dir, 0755)) return -1;
  const char *lim[][2] = { { "memory.max", r->mem_max }, { "cpu.max", r->cpu_max }, { "pids.max", r->pids_max } };
  for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
    if (!lim[i][1]) continue;
    snprintf(p, sizeof p, "%s/%s", dir, lim[i][0]);
    if (writefile("", p, lim[i][1], strlen(lim[i][1]))) return -1;
  }
  snprintf(procs, pl, "%s/cgroup.procs", dir);
  return 0;
}

/*
 * A pty for a process started with `Y`: from the container's own devpts instance (mounted by
 * do_mount at <root>/dev/pts, so the process sees /dev/pts/N), else the guest's /dev/ptmx. m[0] gets
 * the master (the agent's end), *slave the process's end, opened through the master (TIOCGPTPEER),
 * so no path outside the container is needed.
 */
static int open_pty(const char *root, const struct startreq *r, int m[2], int *slave) {
  char p[400];
  snprintf(p, sizeof p, "%s/dev/pts/ptmx", root ? root : "");
  int fd = open(p, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  int unlock = 0;
  struct winsize ws = { .ws_row = r->rows, .ws_col = r->cols };
  if (ioctl(fd, TIOCSPTLCK, &unlock) || ioctl(fd, TIOCSWINSZ, &ws)) { close(fd); return -1; }
  int s = ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) { close(fd); return -1; }
  m[0] = fd; m[1] = -1;
  *slave = s;
  return 0;
}

static void do_start(uint32_t id, char *p, size_t n) {
  struct startreq r;
  memset(&r, 0, sizeof r);
  r.cwd = "/";
  for (size_t off = 0; off < n;) {
    char *e = p + off;
    size_t l = strnlen(e, n - off);
    if (l == n - off) break;
    off += l + 1;
    switch (e[0]) {
      case 'A': if (r.argc < 255) r.argv[r.argc++] = e + 1; break;
      case 'E': if (r.envc < 255) r.envp[r.envc++] = e + 1; break;
      case 'C': r.cwd = e + 1; break;
      case 'R': r.root = e + 1; break;
      case 'U': r.uid = (uid_t)strtoul(e + 1, NULL, 10); break;
      case 'G': r.gid = (gid_t)strtoul(e + 1, NULL, 10); break;
      case 'S': if (r.ngroups < 32) r.groups[r.ngroups++] = (gid_t)strtoul(e + 1, NULL, 10); break;
      case 'L': if (r.nrl < 16) r.rlimits[r.nrl++] = e + 1; break;
      case 'I': r.stdin_pipe = 1; break;
      case 'Q': r.cgroup = e + 1; break;
      case 'M': r.mem_max = e + 1; break;
      case 'P': r.cpu_max = e + 1; break;
      case 'N': r.pids_max = e + 1; break;
      case 'T': r.tkey = e + 1; break;
      case 'Y': { unsigned c = 0, w = 0; r.tty = 1; if (sscanf(e + 1, "%u %u", &c, &w) == 2) r.cols = (unsigned short)c, r.rows = (unsigned short)w; break; }
    }
  }
  if (!r.argc) { errno = EINVAL; senderr(id, "empty argv"); return; }
  if (r.tkey && (!r.tkey[0] || strlen(r.tkey) >= sizeof procs[0].tkey || strchr(r.tkey, '/'))) { errno = EINVAL; senderr(id, "termination message key"); return; }
  char cgprocs[256] = "";
  if (r.cgroup && cg_container(&r, cgprocs, sizeof cgprocs)) { senderr(id, "container cgroup"); return; }
  struct proc *slot = NULL;
  for (int i = 0; i < MAXP; i++) if (!procs[i].id) { slot = &procs[i]; break; }
  if (!slot || findp(id)) { errno = EBUSY; senderr(id, "no process slot"); return; }
  int o[2], e2[2] = { -1, -1 }, in[2] = { -1, -1 }, ex[2], pts = -1;
  if (r.tty) {
    /* a terminal: the master is the process's stdout (stderr too) and stdin; the slave its controlling tty */
    if (open_pty(r.root, &r, o, &pts)) { senderr(id, "terminal"); return; }
    if (r.stdin_pipe && (in[1] = fcntl(o[0], F_DUPFD_CLOEXEC, 0)) < 0) { senderr(id, "terminal"); close(o[0]); close(pts); return; }
    if (pipe2(ex, O_CLOEXEC)) { senderr(id, "pipe"); close(o[0]); close(pts); if (in[1] >= 0) close(in[1]); return; }
  } else {
    if (pipe2(o, O_CLOEXEC) || pipe2(e2, O_CLOEXEC) || pipe2(ex, O_CLOEXEC)) { senderr(id, "pipe"); return; }
    if (r.stdin_pipe && pipe2(in, O_CLOEXEC)) { senderr(id, "pipe"); return; }
  }
  pid_t pid = fork();
  if (pid < 0) { senderr(id, "fork"); return; }
  if (pid == 0) {
    sigset_t s;
    sigemptyset(&s);
    sigprocmask(SIG_SETMASK, &s, NULL);
    setsid();
    const char *fail = "terminal";
    if (r.tty) {
      dup2(pts, 0); dup2(pts, 1); dup2(pts, 2);
      if (ioctl(0, TIOCSCTTY, 0)) goto bad;
    } else {
      int nul = open("/dev/null", O_RDWR);
      dup2(r.stdin_pipe ? in[0] : nul, 0);
      dup2(o[1], 1);
      dup2(e2[1], 2);
    }
    fail = "cgroup";
    if (cgprocs[0] && writefile("", cgprocs, "0", 1)) goto bad;
    fail = "chroot";
    if (r.root && (chroot(r.root) || chdir("/"))) goto bad;
    fail = "chdir";
    if (chdir(r.cwd)) goto bad;
    fail = "setrlimit";
    for (int i = 0; i < r.nrl; i++) {
      char nm[32]; unsigned long long soft, hard;
      if (sscanf(r.rlimits[i], "%31[A-Z]=%llu:%llu", nm, &soft, &hard) != 3) continue;
      int res = rlimit_res(nm);
      struct rlimit rl = { soft, hard };
      if (res >= 0 && setrlimit(res, &rl)) goto bad;
    }
    fail = "setgroups";
    if (setgroups((size_t)r.ngroups, r.groups)) goto bad;
    fail = "setgid";
    if (setgid(r.gid)) goto bad;
    fail = "setuid";
    if (setuid(r.uid)) goto bad;
    extern char **environ;
    environ = r.envp;
    if (!getenv("PATH")) putenv("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    fail = "exec";
    execvp(r.argv[0], r.argv);
  bad:;
    int er = errno;
    char m[256];
    int ml = snprintf(m, sizeof m, "%s %s: %s", fail, fail[0] == 'e' ? r.argv[0] : "", strerror(er));
    write(ex[1], m, (size_t)ml);
    _exit(127);
  }
  if (r.tty) close(pts);
  else close(o[1]), close(e2[1]);
  close(ex[1]);
  if (in[0] >= 0) close(in[0]);
  char m[256];
  ssize_t ml = read(ex[0], m, sizeof m);
  close(ex[0]);
  int tty = r.tty ? fcntl(o[0], F_DUPFD_CLOEXEC, 0) : -1;
  if (ml > 0) {
    sendf(G_ERROR, id, m, (size_t)ml);
    close(o[0]);
    if (e2[0] >= 0) close(e2[0]);
    if (in[1] >= 0) close(in[1]);
    if (tty >= 0) close(tty);
    waitpid(pid, NULL, 0);
    return;
  }
  fcntl(o[0], F_SETFL, O_NONBLOCK);
  if (e2[0] >= 0) fcntl(e2[0], F_SETFL, O_NONBLOCK);
  /* stdin is written without blocking: what the process does not take yet waits in its buffer */
  if (in[1] >= 0) fcntl(in[1], F_SETFL, O_NONBLOCK);
  *slot = (struct proc){ .id = id, .pid = pid, .out = o[0], .err = e2[0], .in = in[1], .tty = tty };
  if (r.tkey) snprintf(slot->tkey, sizeof slot->tkey, "%s", r.tkey);
  unsigned char pb[4];
  put32(pb, (uint32_t)pid);
  sendf(G_STARTED, id, pb, 4);
}

/*
 * Ask every SCSI host to scan one address ("channel:id:lun"). The tailored guest kernel skips the
 * initial bus scan (scsi_mod.scan=manual: ~150 ms of its boot under TCG), and with that a hot-plug
 * event for LUN 0 scans nothing; the host's scan file still does. Scanning an address the kernel
 * already knows (any other scan mode, or a second call) is a no-op.
 */
static void scsi_scan(const char *target) {
  unsigned c, i, l;
  if (sscanf(target, "%u:%u:%u", &c, &i, &l) != 3) return;
  char req[64], p[320];
  int n = snprintf(req, sizeof req, "%u %u %u", c, i, l);
  DIR *hd = opendir("/sys/class/scsi_host");
  struct dirent *he;
  while (hd && (he = readdir(hd))) {
    if (he->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "/sys/class/scsi_host/%.200s/scan", he->d_name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (write(fd, req, (size_t)n) < 0) { /* not this host's address: the others may have it */ }
    close(fd);
  }
  if (hd) closedir(hd);
}

/* Mount a container rootfs: read-only block device (by SCSI address) + an overlay upper (sandbox disk or tmpfs). */
static int find_scsi_dev(const char *target, char *dev, size_t dl) {
  /* target is "channel:id:lun"; the SCSI host number is the guest's business */
  char suffix[64], p[512];
  snprintf(suffix, sizeof suffix, ":%s", target);
  size_t sl = strlen(suffix);
  for (int tries = 0; tries < 500; tries++) {
    /* at once, then every second while it has not shown up */
    if (tries % 100 == 0) scsi_scan(target);
    DIR *sd = opendir("/sys/bus/scsi/devices");
    struct dirent *se;
    while (sd && (se = readdir(sd))) {
      size_t nl = strlen(se->d_name);
      if (nl <= sl || strcmp(se->d_name + nl - sl, suffix)) continue;
      snprintf(p, sizeof p, "/sys/bus/scsi/devices/%s/block", se->d_name);
      DIR *d = opendir(p);
      struct dirent *de;
      while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char name[256];
        snprintf(name, sizeof name, "%s", de->d_name);
        snprintf(dev, dl, "/dev/%.200s", name);
        closedir(d);
        closedir(sd);
        /* the block dir shows up before sd has read the capacity: wait for a size and the node */
        char szp[600], sz[32] = "0";
        snprintf(szp, sizeof szp, "/sys/block/%.200s/size", name);
        struct stat st;
        for (int t = 0; t < 300; t++) {
          int fd = open(szp, O_RDONLY | O_CLOEXEC);
          ssize_t r = fd >= 0 ? read(fd, sz, sizeof sz - 1) : -1;
          if (fd >= 0) close(fd);
          sz[r > 0 ? r : 0] = 0;
          if (strtoull(sz, NULL, 10) > 0 && stat(dev, &st) == 0) break;
          usleep(10000);
        }
        return 0;
      }
      if (d) closedir(d);
    }
    if (sd) closedir(sd);
    usleep(10000);
  }
  errno = ENODEV;
  return -1;
}

static int mkdev(const char *root, const char *name, mode_t mode, int maj, int min) {
  char p[512];
  snprintf(p, sizeof p, "%s/dev/%s", root, name);
  return mknod(p, S_IFCHR | mode, makedev(maj, min));
}

static int writefile(const char *root, const char *path, const char *data, size_t n) {
  char p[512];
  snprintf(p, sizeof p, "%s%s", root, path);
  char dir[512];
  snprintf(dir, sizeof dir, "%s", p);
  char *sl = strrchr(dir, '/');
  if (sl) { *sl = 0; mkdirs(dir, 0755); }
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  ssize_t w = write(fd, data, n);
  close(fd);
  return w == (ssize_t)n ? 0 : -1;
}

/*
 * The sandbox disk (`W<dev>`): a per-VM ext4 disk mounted once at /run/disk. Containers' overlay
 * upper/work dirs live in /run/disk/c/<key>, emptyDir volumes in /run/disk/v/<name>, so neither
 * counts against guest RAM. noinit_itable: the host made the file sparse, so the inode tables it
 * left uninitialised already read as zeros; zeroing them would cost emulated CPU and host blocks.
 */
static int disk_ready;
static int ensure_disk(const char *dev) {
  if (disk_ready) return 0;
  struct stat st;
  for (int t = 0; t < 500 && stat(dev, &st); t++) usleep(10000);
  if (mkdirs("/run/disk", 0755)) return -1;
  if (mount(dev, "/run/disk", "ext4", MS_NOATIME, "noinit_itable,discard")) return -1;
  mkdirs("/run/disk/c", 0700);
  mkdirs("/run/disk/v", 0755);
  disk_ready = 1;
  return 0;
}

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s; (void)f; (void)w;
  remove(p);
  return 0;
}
/* FTW_MOUNT: never descend into something still mounted below the tree */
static void rmtree(const char *p) { nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT); }

/* the pod's configMap/secret/downwardAPI/projected volumes: one read-only 9p share of the host's pod volume dir */
static int vols_ready;
static int ensure_vols(void) {
  if (vols_ready) return 0;
  if (mkdirs("/run/vols", 0755)) return -1;
  /* cache=none: every lookup goes to the host, so kubelet-style `..data` swaps show at once */
  if (mount("hedgevol", "/run/vols", "9p", MS_RDONLY | MS_NOSUID | MS_NODEV, "trans=virtio,version=9p2000.L,cache=none,msize=131072")) return -1;
  vols_ready = 1;
  return 0;
}

/* a relative path with no `..` component (names like `a..b` are fine) */
static int safe_relpath(const char *p) {
  if (p[0] == '/') return 0;
  for (const char *c = p; *c;) {
    size_t l = strcspn(c, "/");
    if (l == 2 && c[0] == '.' && c[1] == '.') return 0;
    c += l;
    if (*c) c++;
  }
  return 1;
}

static int is_mountpoint(const char *dir) {
  struct stat a, b;
  char parent[520];
  snprintf(parent, sizeof parent, "%s/..", dir);
  return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/*
 * A persistentVolumeClaim's own 9p share (tag `pvc<n>`, one per claim, made at VM start), mounted
 * once at /run/pvc/<tag>, writable (a read-only claim's share is read-only in qemu, and each
 * bind of it is remounted read-only when the mount asks). cache=mmap: no page cache beyond what
 * shared mmap needs, so writes reach the host directory at once for the next pod on the claim.
 */
static int valid_claim_tag(const char *t) {
  if (strncmp(t, "pvc", 3) || !t[3] || strlen(t) > 6) return 0;
  for (const char *c = t + 3; *c; c++) if (*c < '0' || *c > '9') return 0;
  return 1;
}
static int ensure_claim(const char *tag) {
  char dir[64];
  snprintf(dir, sizeof dir, "/run/pvc/%.16s", tag /* valid_claim_tag: at most 6 */);
  if (mkdirs(dir, 0755)) return -1;
  if (is_mountpoint(dir)) return 0;
  return mount(tag, dir, "9p", MS_NOSUID | MS_NODEV, "trans=virtio,version=9p2000.L,cache=mmap,msize=131072");
}

/* an empty file at `dst` (and its parent directories) to bind-mount a file on */
static int file_mountpoint(const char *dst) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", dst);
  char *sl = strrchr(dir, '/');
  if (sl && sl != dir) { *sl = 0; mkdirs(dir, 0755); }
  int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

/* an absolute container path without a `..` component */
static int safe_target(const char *t) {
  size_t l = strlen(t);
  return t[0] == '/' && !strstr(t, "/../") && !(l >= 3 && !strcmp(t + l - 3, "/.."));
}

/*
 * The termination message file (`X<target>`): a fresh empty file, mode 0666 whatever the process
 * runs as, beside the container's writable layer (`<rw>/tlog`: on the sandbox disk when there is
 * one, so it does not take guest RAM), bind-mounted at <target> in the container root. It goes
 * with the writable layer at umount.
 */
static int do_tlog(const char *root, const char *rw, const char *target) {
  if (!safe_target(target)) { errno = EINVAL; return -1; }
  char src[400], dst[512];
  snprintf(src, sizeof src, "%s/tlog", rw);
  int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) return -1;
  int r = fchmod(fd, 0666);
  close(fd);
  if (r) return -1;
  snprintf(dst, sizeof dst, "%s%s", root, target);
  if (file_mountpoint(dst)) return -1;
  return mount(src, dst, NULL, MS_BIND, NULL);
}

/* where do_tlog put container <key>'s file */
static void tlog_path(const char *key, char *p, size_t n) {
  snprintf(p, n, "/run/disk/c/%s/tlog", key);
  if (access(p, F_OK)) snprintf(p, n, "/run/c/%s/rw/tlog", key);
}

/* the end of the process's termination message file (at most TMSG_MAX bytes), kept for replays */
static void read_tmsg(struct proc *pr) {
  char p[400];
  tlog_path(pr->tkey, p, sizeof p);
  int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    size_t n = st.st_size > TMSG_MAX ? TMSG_MAX : (size_t)st.st_size;
    pr->tmsg = malloc(n);
    ssize_t r = pr->tmsg ? pread(fd, pr->tmsg, n, st.st_size - (off_t)n) : -1;
    pr->tlen = r > 0 ? (size_t)r : 0;
  }
  close(fd);
}

/*
 * One volume: `V<kind><r|w><size>\x1f<source>\x1f<target>`; kind s = the 9p share (source relative
 * to it), d = emptyDir on the sandbox disk, m = emptyDir in a guest tmpfs of <size> bytes (source
 * = name[/subPath]), p = a persistentVolumeClaim's share (source = pvc<n>[/subPath]). The source is
 * bind-mounted at <target> in the container root.
 */
static int do_volume(const char *root, char *spec, const char **what) {
  char kind = spec[0], ro = spec[1] == 'r';
  char *end = NULL;
  unsigned long long size = strtoull(spec + 2, &end, 10);
  *what = "volume request";
  if (!end || *end != 0x1f) { errno = EINVAL; return -1; }
  char *source = end + 1, *sep = strchr(source, 0x1f);
  if (!sep) { errno = EINVAL; return -1; }
  *sep = 0;
  const char *target = sep + 1;
  *what = target;
  if (!source[0] || !safe_relpath(source) || !safe_target(target)) { errno = EINVAL; return -1; }
  char src[512], dst[512], name[256];
  snprintf(dst, sizeof dst, "%s%s", root, target);
  snprintf(name, sizeof name, "%s", source);
  char *slash = strchr(name, '/');
  if (slash) *slash = 0;
  switch (kind) {
    case 's':
      if (ensure_vols()) { *what = "mount volume share"; return -1; }
      snprintf(src, sizeof src, "/run/vols/%s", source);
      break;
    case 'p':
      if (!valid_claim_tag(name)) { errno = EINVAL; *what = "claim share tag"; return -1; }
      if (ensure_claim(name)) { *what = "mount claim share"; return -1; }
      snprintf(src, sizeof src, "/run/pvc/%s", source);
      break;
    case 'd': {
      if (!disk_ready) { errno = ENODEV; *what = "emptyDir without a sandbox disk"; return -1; }
      char top[512];
      snprintf(top, sizeof top, "/run/disk/v/%s", name);
      snprintf(src, sizeof src, "/run/disk/v/%s", source);
      if (mkdirs(src, 0777)) return -1;
      chmod(top, 0777); /* kubelet's emptyDir mode, whatever the umask */
      break;
    }
    case 'm': {
      char top[512], opts[64] = "mode=0777";
      snprintf(top, sizeof top, "/run/mem/%s", name);
      if (mkdirs(top, 0777)) return -1;
      if (size) snprintf(opts, sizeof opts, "mode=0777,size=%llu", size);
      if (!is_mountpoint(top) && mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, opts)) { *what = "mount emptyDir tmpfs"; return -1; }
      snprintf(src, sizeof src, "/run/mem/%s", source);
      if (mkdirs(src, 0777)) return -1;
      break;
    }
    default: errno = EINVAL; return -1;
  }
  struct stat st;
  if (stat(src, &st)) return -1;
  if (S_ISDIR(st.st_mode)) {
    if (mkdirs(dst, 0755)) return -1;
  } else if (file_mountpoint(dst)) {
    /* a single file (a subPath into a configMap): the mount point must be a file too */
    return -1;
  }
  if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) return -1;
  if (ro && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL)) return -1;
  return 0;
}

/* payload: K<key>, D<scsi addr>, T<fstype>, H<hostname>, W<sandbox disk>, F<path> B<content> pairs, V<volume>…, X<termination message path> */
static void do_mount(uint32_t id, char *p, size_t n) {
  const char *key = NULL, *addr = NULL, *fstype = "ext4", *wdev = NULL;
  for (size_t off = 0; off < n;) {
    char *e = p + off;
    size_t l = strnlen(e, n - off);
    if (l == n - off) break;
    off += l + 1;
    if (e[0] == 'K') key = e + 1;
    else if (e[0] == 'D') addr = e + 1;
    else if (e[0] == 'T') fstype = e + 1;
    else if (e[0] == 'W') wdev = e + 1;
    else if (e[0] == 'H') sethostname(e + 1, strlen(e + 1));
  }
  if (!key || !addr || strchr(key, '/')) { errno = EINVAL; senderr(id, "mount request"); return; }
  char base[256], lower[300], rw[300], upper[320], work[320], root[300], dev[300], opts[1024];
  snprintf(base, sizeof base, "/run/c/%s", key);
  snprintf(lower, sizeof lower, "%s/lower", base);
  snprintf(rw, sizeof rw, "%s/rw", base);
  snprintf(upper, sizeof upper, "%s/rw/upper", base);
  snprintf(work, sizeof work, "%s/rw/work", base);
  snprintf(root, sizeof root, "%s/root", base);
  if (mkdirs(lower, 0755) || mkdirs(rw, 0755) || mkdirs(root, 0755)) { senderr(id, "mkdir"); return; }
  if (find_scsi_dev(addr, dev, sizeof dev)) { senderr(id, addr); return; }
  int mr = -1;
  for (int t = 0; t < 100 && (mr = mount(dev, lower, fstype, MS_RDONLY, strcmp(fstype, "ext4") ? "" : "noload")) && (errno == ENXIO || errno == ENODEV || errno == ENOENT); t++) usleep(20000);
  if (mr) { senderr(id, "mount lower"); return; }
  if (wdev) {
    /* the writable layer on the sandbox disk; a retried create starts from a clean upper */
    if (ensure_disk(wdev)) { senderr(id, "mount sandbox disk"); return; }
    snprintf(rw, sizeof rw, "/run/disk/c/%s", key);
    snprintf(upper, sizeof upper, "%s/upper", rw);
    snprintf(work, sizeof work, "%s/work", rw);
    rmtree(rw);
    if (mkdirs(rw, 0755)) { senderr(id, "mkdir upper"); return; }
  } else if (mount("tmpfs", rw, "tmpfs", 0, "mode=0755")) { senderr(id, "mount tmpfs"); return; }
  mkdirs(upper, 0755); mkdirs(work, 0755);
  snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  if (mount("overlay", root, "overlay", 0, opts)) { senderr(id, "mount overlay"); return; }
  char sub[400];
  snprintf(sub, sizeof sub, "%s/proc", root); mkdirs(sub, 0555);
  if (mount("proc", sub, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "")) { senderr(id, "mount proc"); return; }
  snprintf(sub, sizeof sub, "%s/sys", root); mkdirs(sub, 0555);
  mount("sysfs", sub, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "");
  snprintf(sub, sizeof sub, "%s/tmp", root); mkdirs(sub, 01777);
  snprintf(sub, sizeof sub, "%s/dev", root); mkdirs(sub, 0755);
  if (mount("tmpfs", sub, "tmpfs", MS_NOSUID, "mode=0755,size=65536")) { senderr(id, "mount dev"); return; }
  mkdev(root, "null", 0666, 1, 3); mkdev(root, "zero", 0666, 1, 5); mkdev(root, "full", 0666, 1, 7);
  mkdev(root, "random", 0666, 1, 8); mkdev(root, "urandom", 0666, 1, 9); mkdev(root, "tty", 0666, 5, 0);
  snprintf(sub, sizeof sub, "%s/dev/pts", root); mkdirs(sub, 0755);
  /* the container's own pty instance (as runc mounts it): its terminals are /dev/pts/N inside */
  /* (not fatal: only a process started with a terminal needs it, and that start says so) */
  if (!mount("devpts", sub, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")) {
    snprintf(sub, sizeof sub, "%s/dev/ptmx", root);
    if (symlink("pts/ptmx", sub)) { /* the container has its own /dev/ptmx */ }
  }
  snprintf(sub, sizeof sub, "%s/dev/shm", root); mkdirs(sub, 01777);
  mount("shm", sub, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  /* files the host wants in place (hosts, resolv.conf, hostname): "F/path" followed by "B<content>" */
  const char *fpath = NULL;
  for (size_t off = 0; off < n;) {
    char *e = p + off;
    size_t l = strnlen(e, n - off);
    if (l == n - off) break;
    off += l + 1;
    if (e[0] == 'F') fpath = e + 1;
    else if (e[0] == 'B' && fpath) {
      if (writefile(root, fpath, e + 1, l - 1)) { senderr(id, fpath); return; }
      fpath = NULL;
    }
  }
  /* volumes last: their mount points may lie under the files' directories, never the reverse */
  for (size_t off = 0; off < n;) {
    char *e = p + off;
    size_t l = strnlen(e, n - off);
    if (l == n - off) break;
    off += l + 1;
    const char *what = "volume";
    if (e[0] == 'V' && do_volume(root, e + 1, &what)) { senderr(id, what); return; }
  }
  /* the termination message file after the volumes, as the kubelet orders it (it may shadow one) */
  for (size_t off = 0; off < n;) {
    char *e = p + off;
    size_t l = strnlen(e, n - off);
    if (l == n - off) break;
    off += l + 1;
    if (e[0] == 'X' && do_tlog(root, rw, e + 1)) { senderr(id, "termination message file"); return; }
  }
  sendf(G_MOUNTED, id, root, strlen(root));
}

static void do_umount(uint32_t id, char *p, size_t n) {
  char key[128], path[400];
  snprintf(key, sizeof key, "%.*s", (int)n, p);
  if (strchr(key, '/') || !key[0]) return;
  const char *subs[] = { "root/dev/shm", "root/dev/pts", "root/dev", "root/sys", "root/proc", "root", "rw", "lower" };
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    snprintf(path, sizeof path, "/run/c/%s/%s", key, subs[i]);
    umount2(path, MNT_DETACH);
  }
  /* the container's writable layer goes with it; emptyDirs stay with the pod */
  if (disk_ready) { snprintf(path, sizeof path, "/run/disk/c/%s", key); rmtree(path); }
  if (cg_state > 0) { snprintf(path, sizeof path, CGROOT "/c/%s", key); rmdir(path); }
  sendf(G_MOUNTED, id, "", 0);
}

/* appends `==path==\n` and the file's content (nothing after the mark if it cannot be read) */
static size_t stat_file(size_t len, const char *path) {
  len += (size_t)snprintf(logbuf + len, MAXFRAME - len, "==%s==\n", path);
  if (len >= MAXFRAME) return MAXFRAME - 1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return len;
  ssize_t r;
  while (len < MAXFRAME - 1 && (r = read(fd, logbuf + len, MAXFRAME - 1 - len)) > 0) len += (size_t)r;
  close(fd);
  return len;
}

/*
 * The VM's /proc files (the pod), then each container cgroup's files (after the /proc ones, so a
 * host that only knows /proc sections reads them as the tail of /proc/loadavg, which it ignores).
 */
static void do_stats(uint32_t id) {
  static const char *files[] = { "/proc/stat", "/proc/schedstat", "/proc/meminfo", "/proc/diskstats", "/proc/net/dev", "/proc/loadavg" };
  static const char *cgfiles[] = { "cpu.stat", "cpu.max", "memory.current", "memory.max", "memory.stat", "memory.events", "io.stat", "pids.current" };
  size_t len = 0;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) len = stat_file(len, files[i]);
  DIR *d = cg_state > 0 ? opendir(CGROOT "/c") : NULL;
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.' || de->d_type != DT_DIR) continue;
    for (size_t i = 0; i < sizeof cgfiles / sizeof cgfiles[0]; i++) {
      char p[400];
      snprintf(p, sizeof p, CGROOT "/c/%.200s/%s", de->d_name, cgfiles[i]);
      len = stat_file(len, p);
    }
  }
  if (d) closedir(d);
  sendf(G_STATS, id, logbuf, len);
}

/*
 * Reads the pipe into the stream's buffer and sends it; returns 0 on EOF, 1 when the pipe is
 * empty or the buffer full (unacknowledged output at OBUF_MAX: the poll loop stops watching the
 * pipe until acks come; `drain` (at exit) waits for them here instead).
 */
static void serve_port(void);
static int pump(struct proc *pr, int fd, int s, int drain) {
  struct obuf *o = &pr->ob[s];
  for (;;) {
    if (o->len >= OBUF_MAX) {
      if (!drain) return 1;
      serve_port();
      continue;
    }
    if (o->cap < o->len + OCHUNK) {
      size_t c = o->cap ? o->cap * 2 : 2 * OCHUNK;
      while (c < o->len + OCHUNK) c *= 2;
      char *nb = realloc(o->b, c);
      if (!nb) { if (!drain) return 1; serve_port(); continue; }
      o->b = nb; o->cap = c;
    }
    size_t room = OBUF_MAX - o->len < OCHUNK ? OBUF_MAX - o->len : OCHUNK;
    ssize_t r = read(fd, o->b + o->len, room);
    if (r > 0) { o->len += (size_t)r; send_output(pr, s); continue; }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return 1;
    return 0;
  }
}

static void stdin_credit(struct proc *pr, size_t n);
static void finish(struct proc *pr) {
  /* the pipes stay non-blocking: a grandchild may still hold them open */
  if (pr->out >= 0) { pump(pr, pr->out, 0, 1); close(pr->out); pr->out = -1; }
  if (pr->err >= 0) { pump(pr, pr->err, 1, 1); close(pr->err); pr->err = -1; }
  if (pr->in >= 0) { close(pr->in); pr->in = -1; }
  if (pr->tty >= 0) { close(pr->tty); pr->tty = -1; }
  /* stdin the process never took: credited, so a host still sending is not left waiting */
  if (pr->ilen) { size_t d = pr->ilen; pr->ilen = 0; stdin_credit(pr, d); }
  if (pr->tkey[0]) read_tmsg(pr);
  send_exit(pr);
}

static void reap(void) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (int i = 0; i < MAXP; i++) {
      if (procs[i].id && procs[i].pid == pid && !procs[i].exited) {
        procs[i].exited = 1;
        procs[i].status = st;
        finish(&procs[i]);
      }
    }
  }
}

/* G_STDIN_CREDIT: u32be bytes the process took (or that were dropped): the host may send that many more */
static void stdin_credit(struct proc *pr, size_t n) {
  size_t skip = pr->iskip < n ? pr->iskip : n;
  pr->iskip -= skip;
  n -= skip;
  if (!n) return;
  unsigned char b[4];
  put32(b, (uint32_t)n);
  sendf(G_STDIN_CREDIT, pr->id, b, 4);
}

/* stdin ends: EOF for a pipe; a terminal gets its EOF character (VEOF, ^D), as typing it would */
static void stdin_close(struct proc *pr) {
  if (pr->in < 0) return;
  if (pr->tty >= 0 && write(pr->in, "\x04", 1) < 0) { /* the terminal is gone with its process */ }
  close(pr->in);
  pr->in = -1;
}

/* writes what the process takes without blocking; the rest stays buffered (the poll loop waits for POLLOUT) */
static void stdin_flush(struct proc *pr) {
  while (pr->ilen && pr->in >= 0) {
    ssize_t w = write(pr->in, pr->ib, pr->ilen);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w < 0) { stdin_close(pr); break; } /* the reader is gone (EPIPE): what is left is dropped */
    memmove(pr->ib, pr->ib + w, pr->ilen - (size_t)w);
    pr->ilen -= (size_t)w;
    stdin_credit(pr, (size_t)w);
  }
  if (pr->in < 0 && pr->ilen) { size_t d = pr->ilen; pr->ilen = 0; stdin_credit(pr, d); }
  if (!pr->ilen && pr->ieof) stdin_close(pr);
}

static void stdin_push(struct proc *pr, const char *p, size_t n) {
  if (pr->in < 0 || pr->ieof) { pr->iskip = 0; stdin_credit(pr, n); return; } /* no stdin (any more): dropped, credited */
  if (pr->ilen + n > IBUF_HARD) {
    /* a host that does not keep to the window (older than stdin-window): write blocking, as it expects */
    fcntl(pr->in, F_SETFL, 0);
    stdin_flush(pr);
    if (pr->in >= 0 && pr->ilen) {
      writeall_fd(pr->in, pr->ib, pr->ilen);
      stdin_credit(pr, pr->ilen);
      pr->ilen = 0;
    }
    if (pr->in >= 0) { writeall_fd(pr->in, p, n); fcntl(pr->in, F_SETFL, O_NONBLOCK); }
    stdin_credit(pr, n);
    return;
  }
  if (pr->icap < pr->ilen + n) {
    size_t c = pr->icap ? pr->icap : 4096;
    while (c < pr->ilen + n) c *= 2;
    char *nb = realloc(pr->ib, c);
    if (!nb) die("stdin buffer");
    pr->ib = nb; pr->icap = c;
  }
  memcpy(pr->ib + pr->ilen, p, n);
  pr->ilen += n;
  stdin_flush(pr);
}

static void handle(int type, uint32_t id, char *p, size_t n) {
  struct proc *pr;
  switch (type) {
    case H_HELLO: hello((unsigned char *)p, n); break;
    case H_ACK:
      /* u8 stream | u64be offset: the host's log has the stream up to there */
      pr = findp(id);
      if (pr && n >= 9 && (p[0] == 1 || p[0] == 2)) obuf_ack(&pr->ob[p[0] - 1], ((uint64_t)get32((unsigned char *)p + 1) << 32) | get32((unsigned char *)p + 5));
      break;
    case H_START: do_start(id, p, n); break;
    case H_MOUNT: do_mount(id, p, n); break;
    case H_UMOUNT: do_umount(id, p, n); break;
    case H_STATS: do_stats(id); break;
    case H_STDIN:
      pr = findp(id);
      if (!pr) break;
      if (n == 0) { pr->ieof = 1; stdin_flush(pr); break; }
      stdin_push(pr, p, n);
      break;
    case H_RESIZE:
      /* u16be columns | u16be rows: the terminal's new size (the kernel signals SIGWINCH) */
      pr = findp(id);
      if (pr && pr->tty >= 0 && n >= 4) {
        struct winsize ws = { .ws_col = (unsigned short)(((unsigned char)p[0] << 8) | (unsigned char)p[1]), .ws_row = (unsigned short)(((unsigned char)p[2] << 8) | (unsigned char)p[3]) };
        ioctl(pr->tty, TIOCSWINSZ, &ws);
      }
      break;
    case H_SIGNAL:
      pr = findp(id);
      if (!pr) break;
      if (n >= 1 && !pr->exited) kill(pr->pid, p[0]);
      /* signal 0 = forget: the host has recorded the exit */
      if (n >= 1 && p[0] == 0 && pr->exited) obuf_free(pr), proc_clear(pr);
      break;
  }
}

static char *rbuf;
/* one request from the host (blocks until it is there) */
static void serve_port(void) {
  unsigned char h[9];
  readall(port, h, 9);
  uint32_t len = get32(h);
  if (len < 5 || len > MAXFRAME) die("bad frame");
  readall(port, rbuf, len - 5);
  rbuf[len - 5] = 0;
  handle(h[4], get32(h + 5), rbuf, len - 5);
}

int main(void) {
  logbuf = malloc(MAXFRAME);
  for (int i = 0; i < MAXP; i++) proc_clear(&procs[i]);
  const char *path = "/dev/vport0p1";
  for (int i = 0; i < 500 && (port = open(path, O_RDWR | O_CLOEXEC)) < 0; i++) usleep(10000);
  if (port < 0) die("open /dev/vport0p1");
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGCHLD);
  sigprocmask(SIG_BLOCK, &s, NULL);
  int sfd = signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
  hello(NULL, 0);
  rbuf = malloc(MAXFRAME + 1);
  for (;;) {
    struct pollfd pf[2 + 3 * MAXP];
    struct proc *owner[2 + 3 * MAXP];
    int nf = 0;
    pf[nf++] = (struct pollfd){ port, POLLIN, 0 };
    pf[nf++] = (struct pollfd){ sfd, POLLIN, 0 };
    for (int i = 0; i < MAXP; i++) {
      if (!procs[i].id) continue;
      /* a stream whose unacknowledged output is at the bound is not read: its writer blocks */
      if (procs[i].out >= 0 && procs[i].ob[0].len < OBUF_MAX) { owner[nf] = &procs[i]; pf[nf++] = (struct pollfd){ procs[i].out, POLLIN, 0 }; }
      if (procs[i].err >= 0 && procs[i].ob[1].len < OBUF_MAX) { owner[nf] = &procs[i]; pf[nf++] = (struct pollfd){ procs[i].err, POLLIN, 0 }; }
      /* buffered stdin: written when the process can take more */
      if (procs[i].in >= 0 && procs[i].ilen) { owner[nf] = &procs[i]; pf[nf++] = (struct pollfd){ procs[i].in, POLLOUT, 0 }; }
    }
    if (poll(pf, (nfds_t)nf, -1) < 0) continue;
    if (pf[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {}
      reap();
    }
    for (int i = 2; i < nf; i++) {
      if (!pf[i].revents) continue;
      struct proc *pr = owner[i];
      if (pf[i].events == POLLOUT) { if (pf[i].fd == pr->in) stdin_flush(pr); continue; }
      int isout = pf[i].fd == pr->out;
      if (pf[i].fd != pr->out && pf[i].fd != pr->err) continue;
      if (!pump(pr, pf[i].fd, isout ? 0 : 1, 0)) {
        close(pf[i].fd);
        if (isout) pr->out = -1; else pr->err = -1;
      }
    }
    if (pf[0].revents & POLLIN) {
      serve_port();
    } else if (pf[0].revents & (POLLHUP | POLLERR)) {
      usleep(20000); /* host disconnected; wait for it to come back */
    }
  }
}
