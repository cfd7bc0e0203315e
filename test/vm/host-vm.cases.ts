/**
 * The cgroup v2 test machine (test/vm/host-vm.ts): it boots with a v2-only hierarchy, reaches the
 * host's loopback over slirp, and runc inside it puts a container's limits into its v2 cgroup.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeBusyboxRootfs, missingTools } from '../../src/agent/runtime/oci/test-support.ts';
import { hostVmUnavailable, runInHostVm, startHostVm, type HostVmResult } from './host-vm.ts';

const skip = hostVmUnavailable();
const TIMEOUT = 300_000;
/** another session may hold the bench lock for a benchmark's length: the tests' own limits allow for it */
const LOCK_WAIT = 15 * 60_000;
const TEST_TIMEOUT = TIMEOUT + LOCK_WAIT + 60_000;

function explain(r: HostVmResult): string {
  return `code ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nconsole:\n${r.console.slice(-4000)}`;
}

test('host VM: cgroup v2 unified hierarchy with cpu, memory, pids and io; the host loopback at 10.0.2.2', { skip, timeout: TEST_TIMEOUT }, async () => {
  const server = createServer((_req, res) => res.end('hello from the host\n'));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await runInHostVm({
      command: [
        'sh', '-c',
        'stat -fc %T /sys/fs/cgroup; echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"; ' +
          'echo "subtree: $(cat /sys/fs/cgroup/cgroup.subtree_control)"; grep -c " cgroup " /proc/mounts; ' +
          `/bin/busybox wget -qO- http://10.0.2.2:${port}/; touch /etc/hvm-written && echo writable`,
      ],
      timeoutMs: TIMEOUT,
      lockTimeoutMs: LOCK_WAIT,
    });
    assert.equal(r.code, 0, explain(r));
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'cgroup2fs', explain(r));
    const controllers = (lines[1] ?? '').replace('controllers: ', '').split(' ');
    const subtree = (lines[2] ?? '').replace('subtree: ', '').split(' ');
    for (const c of ['cpu', 'memory', 'pids', 'io']) {
      assert.ok(controllers.includes(c), `controller ${c} missing: ${lines[1]}`);
      assert.ok(subtree.includes(c), `controller ${c} not enabled for children: ${lines[2]}`);
    }
    assert.equal(lines[3], '0', 'no cgroup v1 hierarchy is mounted');
    assert.equal(lines[4], 'hello from the host', explain(r));
    assert.equal(lines[5], 'writable', 'the overlay takes writes');
    assert.ok(r.bootMs > 0, 'the guest reached the command');
  } finally {
    server.close();
  }
});

const SHOW_LIMITS = 'for f in memory.max cpu.max cpu.weight pids.max; do echo "$f $(cat /sys/fs/cgroup/$f)"; done';
const LIMITS_SHOWN = [`memory.max ${32 << 20}`, 'cpu.max 50000 100000', /* runc's shares → weight: 1 + (512 − 2) × 9999 / 262142 */ 'cpu.weight 20', 'pids.max 64'];

/** a runc bundle of busybox running `script`, with a 32 MiB memory limit, half a CPU, shares 512 and 64 pids, in its own cgroup namespace */
function busyboxBundle(bundle: string, script: string, cgroupsPath: string): void {
  makeBusyboxRootfs(join(bundle, 'rootfs'));
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    linux: { namespaces: { type: string }[]; resources?: unknown; cgroupsPath?: string };
  };
  spec.process.terminal = false;
  spec.process.args = ['sh', '-c', script];
  spec.linux.namespaces.push({ type: 'cgroup' });
  spec.linux.resources = { memory: { limit: 32 << 20, swap: 32 << 20 }, cpu: { quota: 50_000, period: 100_000, shares: 512 }, pids: { limit: 64 } };
  spec.linux.cgroupsPath = cgroupsPath;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
}

const runcSkip = skip ?? (missingTools(['runc']).length ? 'needs runc' : undefined);

test('host VM: runc puts memory, CPU and pids limits into the container\'s v2 cgroup; the OOM kill shows in memory.events', { skip: runcSkip, timeout: TEST_TIMEOUT }, async () => {
  const r = await runInHostVm({
    timeoutMs: TIMEOUT,
    lockTimeoutMs: LOCK_WAIT,
    // in its own cgroup namespace the container sees its cgroup as /sys/fs/cgroup; then dd's 64 MiB
    // buffer meets the 32 MiB limit
    prepare: (dir) => busyboxBundle(join(dir, 'bundle'), `${SHOW_LIMITS}; exec dd if=/dev/zero of=/dev/null bs=64M count=1`, '/hvm/ctr'),
    command: [
      'sh', '-c',
      // the bundle onto the guest's tmpfs (off the 9p share), run it, then the parent's view
      'cp -a "$HVM_DIR/bundle" /run/bundle && runc run -b /run/bundle hvm-ctr; echo "exit $?"; ' +
        'echo "oom_kill $(sed -n "s/^oom_kill //p" /sys/fs/cgroup/hvm/memory.events)"; ' +
        'test -e /sys/fs/cgroup/hvm/ctr && echo "left behind" || echo "removed"',
    ],
  });
  assert.equal(r.code, 0, explain(r));
  const out = r.stdout.split('\n').filter(Boolean);
  assert.deepEqual(out, [
    ...LIMITS_SHOWN,
    'exit 137',
    'oom_kill 1',
    'removed',
  ], explain(r));
});

test('host VM: a command past the timeout has qemu killed and leaves no work directory', { skip, timeout: TEST_TIMEOUT }, async () => {
  let workDir = '';
  const r = await runInHostVm({
    command: ['sleep', '600'],
    timeoutMs: 15_000,
    lockTimeoutMs: LOCK_WAIT,
    prepare: (dir) => {
      workDir = dir;
    },
  });
  assert.equal(r.timedOut, true, explain(r));
  assert.equal(r.code, null);
  assert.ok(r.pid, 'qemu started');
  assert.throws(() => process.kill(r.pid as number, 0), { code: 'ESRCH' }, 'qemu is gone');
  assert.equal(existsSync(workDir), false, `${workDir} removed`);
});

const conmonSkip = runcSkip ?? (missingTools(['conmon']).length ? 'needs conmon' : undefined);

test('host VM: conmon + runc: CRI log, exit file and the limits in the v2 cgroup', { skip: conmonSkip, timeout: TEST_TIMEOUT }, async () => {
  const r = await runInHostVm({
    timeoutMs: TIMEOUT,
    lockTimeoutMs: LOCK_WAIT,
    prepare: (dir) => busyboxBundle(join(dir, 'bundle'), `${SHOW_LIMITS}; echo oops >&2; exit 3`, '/hvm/conmon'),
    command: [
      'sh', '-c',
      // conmon's sync pipe (a FIFO here) says when runc create is done, its exit command (writing
      // another FIFO) when the container ended: both awaited
      'set -e; cp -a "$HVM_DIR/bundle" /run/bundle; mkdir -p /run/s /run/exits; mkfifo /run/sync /run/done; ' +
        '_OCI_SYNCPIPE=3 conmon --api-version 1 -c c1 -u c1 -n c1 -r /usr/sbin/runc -b /run/bundle -p /run/c1.pid -l k8s-file:/run/c1.log ' +
        '--exit-dir /run/exits --socket-dir-path /run/s --conmon-pidfile /run/conmon.pid --syslog=false --log-level error ' +
        '--exit-command /bin/sh --exit-command-arg -c --exit-command-arg "echo done >/run/done" 3>/run/sync & ' +
        'read -r created </run/sync; echo "$created" >&2; runc start c1; read x </run/done; echo "exit file $(cat /run/exits/c1)"; ' +
        'sed "s/^[^ ]* //" /run/c1.log; runc delete c1; test -e /sys/fs/cgroup/hvm/conmon && echo "left behind" || echo removed',
    ],
  });
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(r.stdout.split('\n').filter(Boolean), [
    'exit file 3',
    ...LIMITS_SHOWN.map((l) => `stdout F ${l}`),
    'stderr F oops',
    'removed',
  ], explain(r));
});

/** a port free on 127.0.0.1 just now (qemu binds it for the forward) */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((res) => srv.close(res));
  return port;
}

test('host VM: a long-running guest — a server in it reached through a port forward once its console says ready, then killed', { skip, timeout: TEST_TIMEOUT }, async () => {
  const port = await freePort();
  const vm = await startHostVm({
    timeoutMs: TIMEOUT,
    lockTimeoutMs: LOCK_WAIT,
    forwards: [{ host: port, guest: 8080 }],
    command: ['node', '-e', "require('http').createServer((q, r) => r.end('from the guest ' + require('os').hostname())).listen(8080, () => require('fs').writeFileSync('/dev/console', 'hvm-ready\\n'))"],
  });
  try {
    await vm.waitForConsole(/hvm-ready/);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), 'from the guest hedge-vm');
    assert.ok(existsSync(vm.workDir));
  } finally {
    vm.kill();
  }
  const r = await vm.result;
  assert.equal(r.code, null, 'killed before the command ended');
  assert.equal(r.timedOut, false);
  assert.equal(existsSync(vm.workDir), false, 'work directory removed');
  await assert.rejects(vm.waitForConsole(/never printed/), /ended before/);
});
