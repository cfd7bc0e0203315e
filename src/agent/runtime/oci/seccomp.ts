/**
 * seccomp for runc/crun containers: the RuntimeDefault profile (default-deny, errno EPERM) and
 * the OCI `linux.seccomp` shape. gVisor and microVM containers get none: their boundary is the
 * sandbox (gVisor's Sentry implements syscalls itself; a microVM's guest kernel is its own).
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { HedgeError } from '../../../lib/errors.ts';
import type { ContainerConfig } from '../types.ts';
import type { OciRuntimeKind } from './spec.ts';

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_GT' | 'SCMP_CMP_GE';
}

export interface OciSeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO' | 'SCMP_ACT_KILL' | 'SCMP_ACT_TRAP' | 'SCMP_ACT_LOG';
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: OciSeccompRule['action'];
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: OciSeccompRule[];
}

/** Which profile a container asked for (pod or container securityContext.seccompProfile). */
export type SeccompChoice = { type: 'Unconfined' } | { type: 'RuntimeDefault' } | { type: 'Localhost'; localhostProfile: string };

const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: creating namespaces needs CAP_SYS_ADMIN upstream too */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/**
 * Syscalls an ordinary unprivileged process needs: file and socket I/O, memory, signals, time,
 * processes and threads (without new namespaces), polling, the *at family, and their 32-bit
 * variants. Left out (so EPERM): kernel modules, kexec, reboot, swap, mount and the new mount API,
 * pivot_root, namespaces (unshare, setns), keyrings (add_key, keyctl, request_key), bpf,
 * perf_event_open, userfaultfd, io_uring, clock/time setting, quotactl, acct, syslog,
 * open_by_handle_at (the classic container breakout), process_vm_*, iopl/ioperm, NUMA policy
 * and obsolete calls. Written from the kernel's syscall table against what glibc, musl, Go and
 * busybox call.
 */
const ALLOWED: readonly string[] = [
  // files and descriptors
  'access', 'chdir', 'chmod', 'chown', 'chown32', 'close', 'close_range', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3',
  'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fchdir', 'fchmod', 'fchmodat', 'fchmodat2', 'fchown', 'fchown32', 'fchownat',
  'fcntl', 'fcntl64', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fremovexattr', 'fsetxattr', 'fstat', 'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64',
  'fsync', 'ftruncate', 'ftruncate64', 'getcwd', 'getdents', 'getdents64', 'getxattr', 'lchown', 'lchown32', 'lgetxattr', 'link', 'linkat',
  'listxattr', 'llistxattr', 'lremovexattr', 'lseek', '_llseek', 'lsetxattr', 'lstat', 'lstat64', 'memfd_create', 'mkdir', 'mkdirat', 'mknod', 'mknodat',
  'newfstatat', 'open', 'openat', 'openat2', 'pipe', 'pipe2', 'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead',
  'readlink', 'readlinkat', 'readv', 'removexattr', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64', 'setxattr', 'splice',
  'stat', 'stat64', 'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee', 'truncate', 'truncate64',
  'umask', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes', 'futimesat', 'vmsplice', 'write', 'writev', 'ioctl',
  'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'fanotify_mark',
  // polling and events
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old', 'eventfd', 'eventfd2',
  'poll', 'ppoll', 'ppoll_time64', 'pselect6', 'pselect6_time64', 'select', '_newselect', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_gettime',
  'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
  // asynchronous I/O (the old interface; io_uring stays closed)
  'io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_setup', 'io_submit',
  // memory
  'brk', 'madvise', 'membarrier', 'mincore', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect', 'mremap', 'msync', 'munlock', 'munlockall',
  'munmap', 'remap_file_pages', 'pkey_alloc', 'pkey_free', 'pkey_mprotect',
  // processes, threads, scheduling
  'arch_prctl', 'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'vfork', 'futex', 'futex_time64', 'futex_waitv', 'get_robust_list',
  'get_thread_area', 'getcpu', 'getegid', 'getegid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getitimer', 'getpgid',
  'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresgid32', 'getresuid', 'getresuid32', 'getrlimit', 'getrusage', 'getsid',
  'gettid', 'getuid', 'getuid32', 'ioprio_get', 'ioprio_set', 'kill', 'pause', 'pidfd_open', 'pidfd_send_signal', 'prctl', 'prlimit64', 'ptrace',
  'restart_syscall', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait',
  'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_getaffinity', 'sched_getattr', 'sched_getparam',
  'sched_getscheduler', 'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr', 'sched_setparam',
  'sched_setscheduler', 'sched_yield', 'set_robust_list', 'set_thread_area', 'set_tid_address', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32',
  'setgid', 'setgid32', 'setgroups', 'setgroups32', 'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid', 'setresgid32',
  'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'setsid', 'setuid', 'setuid32', 'sigaltstack', 'sigreturn', 'tgkill', 'tkill',
  'wait4', 'waitid', 'waitpid', 'uname', 'sysinfo', 'times',
  // time (reading and sleeping only)
  'alarm', 'clock_getres', 'clock_getres_time64', 'clock_gettime', 'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday',
  'nanosleep', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64',
  // sockets
  'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recv', 'recvfrom', 'recvmmsg', 'recvmmsg_time64',
  'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown', 'socket', 'socketcall', 'socketpair',
  // System V and POSIX IPC (namespaced per pod)
  'ipc', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend', 'mq_timedsend_time64', 'mq_unlink',
  'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget',
  // filesystem root changes inside the container's own mount namespace
  'chroot',
];

/**
 * The syscall ABIs containers may use: the native one and the 32-bit compat one (i386 on x86-64,
 * arm on arm64). The filter the runtime builds grows with every ABI listed, and runc compiles it
 * in every container's init: 5 instead of 3 on x86-64 cost `runc run` ~18 ms more (p50 of 30,
 * bench/runtime-start.ts's spec), and x32 alone ~6 ms of the init's CPU (48 → 42 ms, p50 of 9,
 * docs/host-notes.md). x32 is left out: libseccomp's x86-64 filter then sends every x32 call
 * (syscall bit 30) to the filter's bad-ABI action, so x32 code is refused, never allowed (x32
 * binaries are all but unknown in images; this kernel does not even build the ABI, Debian's
 * builds it switched off).
 */
export function hostSeccompArchitectures(arch: string = process.arch): string[] {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    default:
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
  }
}

/** The RuntimeDefault profile for the host's architectures. */
export function runtimeDefaultSeccomp(arch: string = process.arch): OciSeccomp {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: hostSeccompArchitectures(arch),
    syscalls: [
      { names: [...ALLOWED], action: 'SCMP_ACT_ALLOW' },
      // clone without namespace flags only
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      // clone3's flags live in memory a filter cannot read: ENOSYS makes libc fall back to clone
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      // personality: only the harmless personas (Linux, its 32-bit variant, and the query)
      ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((value): OciSeccompRule => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
    ],
  };
}

/** The profile a container runs under (undefined = unconfined); gVisor (runsc) never gets one, its Sentry is the boundary. */
export async function seccompProfileFor(
  cfg: ContainerConfig,
  o: { runtimeKind: OciRuntimeKind; node: { defaultRuntimeDefault?: boolean; profileDir?: string } | undefined },
): Promise<OciSeccomp | undefined> {
  if (o.runtimeKind === 'runsc' || cfg.security.privileged) return undefined;
  const choice = cfg.security.seccomp ?? (o.node?.defaultRuntimeDefault === false ? { type: 'Unconfined' as const } : { type: 'RuntimeDefault' as const });
  switch (choice.type) {
    case 'Unconfined':
      return undefined;
    case 'RuntimeDefault':
      return runtimeDefaultSeccomp();
    case 'Localhost': {
      const rel = choice.localhostProfile;
      const dir = o.node?.profileDir;
      if (!dir) throw new HedgeError('Invalid', `seccomp profile "${rel}": this node has no Localhost profile directory`);
      if (!rel || isAbsolute(rel) || rel.split('/').includes('..')) throw new HedgeError('Invalid', `seccomp profile "${rel}": localhostProfile must be a relative path without '..'`);
      let text: string;
      try {
        text = await readFile(join(dir, rel), 'utf8');
      } catch (err) {
        throw new HedgeError('Invalid', `seccomp profile "${rel}": cannot read ${join(dir, rel)}: ${(err as Error).message}`, { cause: err });
      }
      try {
        const profile = JSON.parse(text) as OciSeccomp;
        if (typeof profile.defaultAction !== 'string') throw new Error('defaultAction missing');
        return profile;
      } catch (err) {
        throw new HedgeError('Invalid', `seccomp profile "${rel}": not a seccomp profile: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}
