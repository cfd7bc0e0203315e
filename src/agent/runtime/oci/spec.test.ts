import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHedgeError } from '../../../lib/errors.ts';
import type { ContainerConfig } from '../types.ts';
import { buildSpec, DEFAULT_CAPABILITIES, effectiveCapabilities, milliCpuToQuota, milliCpuToShares, type BuildSpecOptions } from './spec.ts';
import { runtimeDefaultSeccomp } from './seccomp.ts';
import { containerConfig, sandboxConfig } from './test-support.ts';

const paths = { rootfs: '/b/rootfs', hostsFile: '/s/hosts', resolvConf: '/s/resolv.conf', hostnameFile: '/s/hostname', podShm: '/s/shm', podIpcNs: '/s/ipcns' };
const sandbox = sandboxConfig({ id: 'sb1', stateDir: '/s', netnsPath: '/var/run/netns/p1', cgroupParent: 'hedge/podabc' });
const base = (over: Partial<ContainerConfig> = {}): ContainerConfig => ({
  ...containerConfig({ id: 'c1', sandboxId: 'sb1', rootfs: '/r', command: ['sh', '-c', 'true'], logPath: '/l' }),
  ...over,
});
const build = (o: Partial<BuildSpecOptions> = {}) => buildSpec({ container: base(), sandbox, kind: 'runc', paths, ...o });

test('process, root, hostname, cgroups and resources', () => {
  const s = build({ nofile: 20000 });
  assert.equal(s.ociVersion, '1.0.2');
  assert.deepEqual(s.process.args, ['sh', '-c', 'true']);
  assert.ok(s.process.env.includes('FOO=bar'));
  assert.ok(s.process.env.some((e) => e.startsWith('PATH=')));
  assert.ok(s.process.env.includes('HOSTNAME=pod-sb1'));
  assert.deepEqual(s.process.user, { uid: 0, gid: 0 });
  assert.equal(s.process.noNewPrivileges, true);
  assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
  assert.deepEqual(s.process.capabilities.bounding, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(s.process.capabilities.inheritable, []);
  assert.deepEqual(s.root, { path: '/b/rootfs', readonly: false });
  assert.equal(s.hostname, 'pod-sb1');
  assert.equal(s.linux.cgroupsPath, '/hedge/podabc/c1');
  assert.deepEqual(s.linux.resources.cpu, { shares: 102, quota: 50000, period: 100000 });
  assert.deepEqual(s.linux.resources.memory, { limit: 64 * 1024 * 1024, swap: 64 * 1024 * 1024 });
  assert.deepEqual(s.linux.resources.pids, { limit: 100 });
  assert.ok(s.linux.maskedPaths?.includes('/proc/kcore'));
  assert.ok(s.linux.readonlyPaths?.includes('/proc/sys'));
  assert.equal(s.process.oomScoreAdj, undefined);
  assert.equal(build({ oomScoreAdj: -998 }).process.oomScoreAdj, 0);
  assert.equal(build({ oomScoreAdj: 1000 }).process.oomScoreAdj, 1000);
});

test('namespaces: runc joins the pod netns; runsc has no network entry; shareIpc', () => {
  const ns = build().linux.namespaces;
  assert.deepEqual(ns, [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/p1' }]);
  const gv = build({ kind: 'runsc' }).linux.namespaces;
  assert.equal(gv.some((n) => n.type === 'network'), false);
  const host = buildSpec({ container: base(), sandbox: { ...sandbox, netnsPath: undefined }, kind: 'runc', paths });
  assert.equal(host.linux.namespaces.some((n) => n.type === 'network'), false);
  const shared = buildSpec({ container: base(), sandbox: { ...sandbox, shareIpc: true }, kind: 'runc', paths });
  assert.deepEqual(shared.linux.namespaces[1], { type: 'ipc', path: '/s/ipcns' });
  assert.deepEqual(shared.mounts.find((m) => m.destination === '/dev/shm'), { destination: '/dev/shm', type: 'bind', source: '/s/shm', options: ['rbind', 'rprivate', 'rw'] });
  const sharedGv = buildSpec({ container: base(), sandbox: { ...sandbox, shareIpc: true }, kind: 'runsc', paths });
  assert.deepEqual(sharedGv.linux.namespaces[1], { type: 'ipc' });
});

test('namespaces: a cgroup namespace of its own for an unprivileged runc/crun container on a cgroup v2 host, as containerd gives; none for privileged, runsc, or v1', () => {
  const cgroupns = (o: Partial<BuildSpecOptions>): boolean => build(o).linux.namespaces.some((n) => n.type === 'cgroup');
  assert.equal(cgroupns({ cgroupNamespace: true }), true);
  assert.equal(cgroupns({ cgroupNamespace: true, kind: 'crun' }), true);
  assert.equal(cgroupns({}), false, 'a v1 host: the host view, as before');
  assert.equal(cgroupns({ cgroupNamespace: true, kind: 'runsc' }), false);
  const priv = base();
  assert.equal(cgroupns({ cgroupNamespace: true, container: { ...priv, security: { ...priv.security, privileged: true } } }), false);
});

test('namespaces: hostPID and hostIPC leave the entry out (the host\'s), with the host\'s /dev/shm; sharePid joins the pod\'s', () => {
  const types = (sb: Partial<typeof sandbox>, kind: BuildSpecOptions['kind'] = 'runc') =>
    buildSpec({ container: base(), sandbox: { ...sandbox, ...sb }, kind, paths: { ...paths, pidNs: '/proc/42/ns/pid_for_children' } });
  const host = types({ hostPid: true, hostIpc: true });
  assert.deepEqual(host.linux.namespaces.map((n) => n.type), ['uts', 'mount', 'network']);
  assert.deepEqual(host.mounts.find((m) => m.destination === '/dev/shm'), { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] });
  const shared = types({ sharePid: true, shareIpc: true });
  assert.deepEqual(shared.linux.namespaces.slice(0, 2), [{ type: 'pid', path: '/proc/42/ns/pid_for_children' }, { type: 'ipc', path: '/s/ipcns' }]);
  assert.deepEqual(buildSpec({ container: base(), sandbox, kind: 'runc', paths }).linux.namespaces[0], { type: 'pid' }, 'not asked: its own');
});

test('namespaces: a hostNetwork sandbox (hostUts) keeps the host\'s UTS namespace and sets no host name (runc refuses one)', () => {
  const host = buildSpec({ container: base(), sandbox: { ...sandbox, netnsPath: undefined, hostUts: true, hostname: 'edge-1' }, kind: 'runc', paths });
  assert.deepEqual(host.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'mount']);
  assert.equal('hostname' in host, false);
  assert.ok(host.process.env.includes('HOSTNAME=edge-1'));
  assert.equal(build().hostname, sandbox.hostname, 'its own UTS namespace: the pod\'s name');
});

test('terminationMessagePath: the handler\'s file bind-mounted rw after the volumes, over a volume at the same path', () => {
  const withLog = (over: Partial<ContainerConfig>) =>
    buildSpec({ container: base(over), sandbox, kind: 'runc', paths: { ...paths, terminationLog: '/c/c1/termination-log' } });
  const s = withLog({ terminationMessagePath: '/dev/termination-log', mounts: [{ containerPath: '/data', hostPath: '/v/data', readOnly: true }] });
  assert.deepEqual(s.mounts.at(-1), { destination: '/dev/termination-log', type: 'bind', source: '/c/c1/termination-log', options: ['rbind', 'rprivate', 'rw'] });
  const over = withLog({ terminationMessagePath: '/data', mounts: [{ containerPath: '/data', hostPath: '/v/data', readOnly: true }] });
  assert.deepEqual(over.mounts.filter((m) => m.destination === '/data').map((m) => m.source), ['/c/c1/termination-log']);
  assert.equal(withLog({}).mounts.some((m) => m.source === '/c/c1/termination-log'), false, 'no path, no mount');
});

test('mounts: defaults, sandbox files, volumes (bind ro, tmpfs with size) and shadowing', () => {
  const s = buildSpec({
    container: base({
      mounts: [
        { containerPath: '/data', hostPath: '/v/data', readOnly: true },
        { containerPath: '/cache', hostPath: '', readOnly: false, type: 'tmpfs', sizeBytes: 1048576 },
        { containerPath: '/dev/shm', hostPath: '/v/shm', readOnly: false },
      ],
    }),
    sandbox,
    kind: 'runc',
    paths,
  });
  const dests = s.mounts.map((m) => m.destination);
  for (const d of ['/proc', '/dev', '/dev/pts', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname', '/data', '/cache']) {
    assert.ok(dests.includes(d), d);
  }
  assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
  assert.equal(s.mounts.find((m) => m.destination === '/dev/shm')?.source, '/v/shm');
  assert.deepEqual(s.mounts.find((m) => m.destination === '/data'), { destination: '/data', type: 'bind', source: '/v/data', options: ['rbind', 'rprivate', 'ro'] });
  assert.ok(s.mounts.find((m) => m.destination === '/cache')?.options.includes('size=1048576'));
  assert.ok(s.mounts.find((m) => m.destination === '/sys')?.options.includes('ro'));
  assert.equal(s.mounts.find((m) => m.destination === '/etc/hosts')?.source, '/s/hosts');
});

test('privileged: all caps, no masks, rw sys; rejected for gVisor with a field cause', () => {
  const sec = { ...base().security, privileged: true };
  const s = buildSpec({ container: base({ security: sec }), sandbox, kind: 'runc', paths });
  assert.ok(s.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  assert.equal(s.linux.maskedPaths, undefined);
  assert.ok(s.mounts.find((m) => m.destination === '/sys')?.options.includes('rw'));
  assert.throws(
    () => buildSpec({ container: base({ security: sec }), sandbox, kind: 'runsc', paths }),
    (e: unknown) => isHedgeError(e, 'Invalid') && /gVisor/.test(e.message) && e.details.causes?.[0]?.reason === 'FieldValueForbidden',
  );
});

test('seccomp: the given profile lands in linux.seccomp for runc/crun, never for runsc or privileged containers', () => {
  const profile = runtimeDefaultSeccomp();
  assert.deepEqual(build({ seccomp: profile }).linux.seccomp, profile);
  assert.deepEqual(build({ seccomp: profile, kind: 'crun' }).linux.seccomp, profile);
  assert.equal(build({ seccomp: profile, kind: 'runsc' }).linux.seccomp, undefined);
  const priv = buildSpec({ container: base({ security: { ...base().security, privileged: true } }), sandbox, kind: 'runc', paths, seccomp: profile });
  assert.equal(priv.linux.seccomp, undefined);
  // the profile itself: default-deny with EPERM, namespaces/mount/keyrings/modules closed, clone only without namespace flags
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(profile.defaultErrnoRet, 1);
  const allowed = new Set(profile.syscalls?.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
  for (const sc of ['read', 'write', 'openat', 'execve', 'futex', 'epoll_wait', 'socket', 'connect']) assert.ok(allowed.has(sc), sc);
  for (const sc of ['unshare', 'setns', 'mount', 'umount2', 'pivot_root', 'keyctl', 'add_key', 'request_key', 'init_module', 'finit_module', 'kexec_load', 'bpf', 'open_by_handle_at', 'reboot', 'swapon', 'clone3', 'clone', 'io_uring_setup', 'userfaultfd', 'perf_event_open']) {
    assert.ok(!allowed.has(sc), `${sc} must not be allowed unconditionally`);
  }
  const clone = profile.syscalls?.find((r) => r.names.includes('clone'));
  assert.deepEqual(clone?.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
});

test('seccomp: the profile lists the native and 32-bit compat ABIs (x32 refused), not every architecture', () => {
  assert.deepEqual(runtimeDefaultSeccomp('x64').architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assert.deepEqual(runtimeDefaultSeccomp('arm64').architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  // an architecture not named here keeps the wide list rather than a filter for the wrong ABI
  assert.equal(runtimeDefaultSeccomp('riscv64').architectures?.length, 5);
  assert.deepEqual(runtimeDefaultSeccomp('x64').syscalls, runtimeDefaultSeccomp('arm64').syscalls);
});

test('capabilities: drop then add, ALL, names without CAP_', () => {
  assert.deepEqual(effectiveCapabilities([], ['ALL'], false), []);
  assert.deepEqual(effectiveCapabilities(['NET_ADMIN'], ['ALL'], false), ['CAP_NET_ADMIN']);
  const c = effectiveCapabilities(['sys_time'], ['NET_RAW', 'CAP_KILL'], false);
  assert.ok(c.includes('CAP_SYS_TIME') && !c.includes('CAP_NET_RAW') && !c.includes('CAP_KILL') && c.includes('CAP_CHOWN'));
  assert.ok(effectiveCapabilities(['ALL'], [], false).includes('CAP_BPF'));
  const s = buildSpec({ container: base({ user: { uid: 1000, gid: 2000, additionalGids: [3000] } }), sandbox, kind: 'runc', paths });
  assert.deepEqual(s.process.user, { uid: 1000, gid: 2000, additionalGids: [3000] });
});

test('kubelet cpu conversions', () => {
  assert.equal(milliCpuToShares(undefined), 2);
  assert.equal(milliCpuToShares(1), 2);
  assert.equal(milliCpuToShares(1000), 1024);
  assert.equal(milliCpuToQuota(250), 25000);
  assert.equal(milliCpuToQuota(1), 1000);
  const req = build().linux.resources.cpu;
  assert.equal(req?.shares, 102);
  const noLimit = buildSpec({ container: base({ resources: {} }), sandbox, kind: 'runc', paths });
  assert.deepEqual(noLimit.linux.resources.cpu, { shares: 2 });
  assert.equal(noLimit.linux.resources.memory, undefined);
  assert.throws(() => buildSpec({ container: base({ command: [] }), sandbox, kind: 'runc', paths }), /no command/);
});
