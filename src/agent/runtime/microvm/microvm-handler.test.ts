/**
 * Real microVMs: qemu -M microvm with the Debian guest kernel built by scripts/build-guest.sh.
 * Skips with the reason when qemu, the kernel, busybox-static, mkfs.ext4 or root are missing.
 * Under TCG a boot takes ~3 s, so one VM serves the whole suite.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../lib/log.ts';
import { parseCriLine } from '../../logs/cri-log.ts';
import { LogRotationManager } from '../../logs/rotation-manager.ts';
import { writeAtomic } from '../../volumes/atomic-writer.ts';
import { containerConfig, delNetns, makeBusyboxRootfs, sandboxConfig } from '../oci/test-support.ts';
import type { ContainerConfig, ContainerId, SandboxId } from '../types.ts';
import { buildGuest } from './guest-artifacts.ts';
import { pidExists, processGone } from '../../host/process.ts';
import { MicroVmRuntimeHandler } from './microvm-handler.ts';
import type { GuestArtifacts } from './vm.ts';
import { addPodNetns, microvmSkipReason } from './testing/host.ts';


const sig = (ms = 60_000): AbortSignal => AbortSignal.timeout(ms);

async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('MicroVmRuntimeHandler (real qemu microVM)', { skip: microvmSkipReason(), concurrency: false }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hedge-mvm-'));
  const stateDir = join(tmp, 'state');
  const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
  const sid = 'sb-mvm-test' as SandboxId;
  // a pod netns as CNI leaves it: eth0 (veth) with the pod IP, the host end addressed as its gateway
  const ns = `hmvt${process.pid}`;
  const hostVeth = `hmvh${process.pid}`.slice(0, 15);
  const net = { pod: '10.213.7.2', gw: '10.213.7.1' };
  const cgroupParent = `hedge-mvm-test-${process.pid}/pod1`;
  let guest: GuestArtifacts;
  let h: MicroVmRuntimeHandler;
  let qemuPid = 0;
  const mk = (): MicroVmRuntimeHandler =>
    new MicroVmRuntimeHandler({ stateDir, guest, logger: silentLogger(), accelerator: 'auto', memoryOverheadMiB: 32, defaultMemoryMiB: 96 });
  const container = (id: string, command: string[]): ContainerConfig =>
    containerConfig({ id, sandboxId: sid, rootfs, command, logPath: join(tmp, 'logs', `${id}.log`) });
  // kubelet's layout: <pod>/sandbox is the sandbox state dir, <pod>/volumes/<plugin>/<name> the volumes
  const podDir = join(tmp, 'pod');
  const vols = join(podDir, 'volumes');
  // a csi local-path claim's directory as src/agent/volumes/local-path.ts makes it (0777), shared writable
  const claimDir = join(tmp, 'local-path', 'pvc-data');
  const hostOnly = join(tmp, 'host-only-secret');
  const output = (): { text: () => string; stream: PassThrough } => {
    const stream = new PassThrough();
    let t = '';
    stream.on('data', (d: Buffer) => (t += d.toString()));
    return { text: () => t, stream };
  };
  const sh = async (id: ContainerId, script: string): Promise<{ code: number; out: string }> => {
    const o = output();
    const code = await h.exec(id, { command: ['sh', '-c', script], tty: false, stdout: o.stream, stderr: o.stream, signal: sig() });
    return { code, out: o.text() };
  };

  before(async () => {
    // the guest build is cached across runs by its input hash
    guest = await buildGuest({ outRoot: join(tmpdir(), 'hedge-guest-cache'), signal: sig(300_000) });
    h = mk();
    addPodNetns(ns, hostVeth, net);
  });

  after(async () => {
    await h?.removeSandbox(sid, sig()).catch(() => undefined);
    if (qemuPid && pidExists(qemuPid)) process.kill(qemuPid, 'SIGKILL');
    delNetns(ns);
    execFileSync('sh', ['-c', `ip link del ${hostVeth} 2>/dev/null; for c in cpu cpuacct memory pids blkio; do rmdir /sys/fs/cgroup/$c/${cgroupParent} /sys/fs/cgroup/$c/${cgroupParent.split('/')[0]} 2>/dev/null; done; true`]);
    rmSync(tmp, { recursive: true, force: true });
  });

  test('the sandbox is a booted VM running the guest kernel, not the host one', async () => {
    const cfg = sandboxConfig({ id: sid, stateDir: join(podDir, 'sandbox'), cgroupParent, netnsPath: `/var/run/netns/${ns}` });
    mkdirSync(claimDir, { recursive: true, mode: 0o777 });
    chmodSync(claimDir, 0o777);
    writeFileSync(hostOnly, 'host secret');
    symlinkSync(hostOnly, join(claimDir, 'escape'));
    writeFileSync(join(claimDir, 'from-runc'), 'written on the host\n');
    const persistentVolumes = [{ name: 'data', hostPath: claimDir, readOnly: false }];
    const info = await h.createSandbox({ ...cfg, resources: { memoryBytes: 224 << 20, cpuMilli: 500 }, persistentVolumes }, sig());
    assert.ok(info.pid && pidExists(info.pid));
    qemuPid = info.pid;
    assert.ok(h.accelerator === 'kvm' || h.accelerator === 'tcg');
    const vm = await h.vmInfo(sid);
    assert.equal(vm?.memoryMiB, 176, 'pod limit 224 MiB − 48 MiB for qemu itself');
    assert.equal(vm?.accelerator, h.accelerator);
    assert.equal(vm?.podIP, net.pod);
    // qemu (all its threads) is charged to the pod cgroup, which carries the pod's limits
    for (const ctl of ['memory', 'cpu', 'pids']) {
      assert.ok(readFileSync(`/sys/fs/cgroup/${ctl}/${cgroupParent}/cgroup.procs`, 'utf8').split('\n').includes(String(qemuPid)), `qemu in ${ctl} cgroup`);
    }
    assert.equal(readFileSync(`/sys/fs/cgroup/memory/${cgroupParent}/memory.limit_in_bytes`, 'utf8').trim(), String(224 << 20));
    assert.equal(readFileSync(`/sys/fs/cgroup/cpu/${cgroupParent}/cpu.cfs_quota_us`, 'utf8').trim(), '50000');
    // the writable disk: 1 GiB apparent, sparse on the host
    const disk = statSync(join(stateDir, 'sandboxes', sid, 'disk.ext4'));
    assert.equal(disk.size, 1 << 30);
    assert.ok(disk.blocks * 512 < 4 << 20, `disk file allocates ${disk.blocks * 512} bytes`);

    const c1 = container('c1', ['sh', '-c', 'echo hello; uname -r; cat /proc/version; echo oops >&2; hostname']);
    await h.createContainer(c1, sig());
    assert.equal((await h.status(c1.id, sig())).status.state, 'created');
    await h.start(c1.id, sig());
    await waitFor(async () => (await h.status(c1.id, sig())).status.state === 'exited', 'c1 exit');
    const st = (await h.status(c1.id, sig())).status;
    assert.equal(st.state === 'exited' && st.exitCode, 0);
    assert.equal(st.state === 'exited' && st.reason, 'Completed');

    const lines = readFileSync(c1.logPath, 'utf8').trimEnd().split('\n').map((l) => parseCriLine(l));
    assert.ok(lines.every((l) => l !== undefined), 'every line is a CRI record');
    const stdout = lines.filter((l) => l?.stream === 'stdout').map((l) => l?.message);
    assert.equal(stdout[0], 'hello');
    assert.equal(stdout[1], vm?.guestKernel);
    assert.notEqual(stdout[1], release(), 'the workload must see the guest kernel');
    assert.match(stdout[2] ?? '', /^Linux version /);
    assert.equal(stdout[3], 'pod-sb-mvm-test');
    assert.deepEqual(lines.filter((l) => l?.stream === 'stderr').map((l) => l?.message), ['oops']);
    await h.remove(c1.id, sig());
    await assert.rejects(h.status(c1.id, sig()), /not found/);
  });

  test('log rotation: a running container\'s log rotates through the agent\'s rotation manager', async () => {
    // kubelet's layout: <logDir>/<restartCount>.log
    const logDir = join(tmp, 'logs', 'crot');
    const c = containerConfig({ id: 'crot', sandboxId: sid, rootfs, command: ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done'], logPath: join(logDir, '0.log') });
    await h.createContainer(c, sig());
    await h.start(c.id, sig());
    await waitFor(async () => existsSync(c.logPath) && readFileSync(c.logPath, 'utf8').includes('line1'), 'first lines');
    const pod = { metadata: { namespace: 'ns', name: 'p' }, spec: { containers: [{ name: 'app' }] } };
    const rotation = new LogRotationManager({
      source: { pods: () => [pod], locate: () => ({ handler: h, id: c.id, logDir, restartCount: 0 }) },
      logger: silentLogger(),
      maxSizeBytes: 1,
    });
    assert.equal(await rotation.rotateOnce(sig()), 1);
    const rotated = readdirSync(logDir).filter((n) => n !== '0.log');
    assert.equal(rotated.length, 1);
    assert.ok(readFileSync(join(logDir, rotated[0]), 'utf8').includes('stdout F line0'));
    await waitFor(async () => existsSync(c.logPath) && / stdout F line\d+/.test(readFileSync(c.logPath, 'utf8')), 'lines in the fresh file');
    assert.equal(readFileSync(c.logPath, 'utf8').includes('stdout F line0\n'), false);
    await h.stop(c.id, { timeoutSeconds: 0, signal: sig() });
    await h.remove(c.id, sig());
  });

  test('volumes: configMap/secret live over the share, emptyDir on the disk and in tmpfs, writable layer on the disk', async () => {
    const stamp = (n: number): string => `2024_01_01_00_00_0${n}`;
    await writeAtomic(join(vols, 'configmap', 'cfg'), [
      { path: 'a.txt', data: Buffer.from('one'), mode: 0o644 },
      { path: 'dir/b.txt', data: Buffer.from('bee'), mode: 0o640 },
    ], stamp(1));
    await writeAtomic(join(vols, 'secret', 'sec'), [{ path: 'token', data: Buffer.from('s3cret'), mode: 0o400 }], stamp(1));
    mkdirSync(join(vols, 'empty-dir', 'scratch'), { recursive: true });
    const c3 = container('c3', ['sh', '-c', 'echo from-c3 > /scratch/x; echo c3 > /c3-root; echo t > /tmp/c3-tmp; exec sleep 1000']);
    c3.mounts = [
      { hostPath: join(vols, 'configmap', 'cfg'), containerPath: '/etc/cfg', readOnly: true, type: 'bind' },
      { hostPath: join(vols, 'configmap', 'cfg', 'a.txt'), containerPath: '/etc/single.txt', readOnly: true, type: 'bind' },
      { hostPath: join(vols, 'secret', 'sec'), containerPath: '/etc/sec', readOnly: true, type: 'bind' },
      { hostPath: join(vols, 'empty-dir', 'scratch'), containerPath: '/scratch', readOnly: false, type: 'bind' },
      { hostPath: join(vols, 'empty-dir', 'mem'), containerPath: '/mem', readOnly: false, type: 'tmpfs', sizeBytes: 8 << 20 },
    ];
    await h.createContainer(c3, sig());
    await h.start(c3.id, sig());
    await waitFor(async () => (await sh(c3.id, 'cat /scratch/x')).out === 'from-c3\n', 'c3 wrote its emptyDir');

    const r = await sh(c3.id, [
      'cat /etc/cfg/a.txt; echo; cat /etc/cfg/dir/b.txt; echo; cat /etc/single.txt; echo; cat /etc/sec/token; echo',
      'stat -L -c %a /etc/cfg/a.txt /etc/cfg/dir/b.txt /etc/sec/token',
      'touch /etc/cfg/new 2>/dev/null && echo cfg-writable || echo cfg-ro',
      'touch /etc/sec/new 2>/dev/null && echo sec-writable || echo sec-ro',
      'echo m > /mem/f && cat /mem/f',
      'stat -c %a /scratch /mem',
      'cat /c3-root /tmp/c3-tmp',
      'cat /proc/mounts',
    ].join('; '));
    assert.equal(r.code, 0, r.out);
    const lines = r.out.split('\n');
    assert.deepEqual(lines.slice(0, 15), ['one', 'bee', 'one', 's3cret', '644', '640', '400', 'cfg-ro', 'sec-ro', 'm', '777', '777', 'c3', 't', lines[14]]);
    const mounts = lines.slice(14).join('\n');
    assert.match(mounts, /^hedgevol \/etc\/cfg 9p ro,/m, 'configMap: the read-only share');
    assert.match(mounts, /^tmpfs \/mem tmpfs rw,nosuid,nodev,relatime,size=8192k/m, 'Memory emptyDir: a guest tmpfs of its sizeLimit');
    assert.match(mounts, /^\/dev\/vda \/scratch ext4 rw/m, 'emptyDir on the sandbox disk');
    assert.match(mounts, /^overlay \S+ overlay rw,.*upperdir=\/run\/disk\/c\//m, 'the writable layer is on the disk, not tmpfs');

    // a configMap update (kubelet's atomic ..data swap on the host) shows inside the guest
    await writeAtomic(join(vols, 'configmap', 'cfg'), [{ path: 'a.txt', data: Buffer.from('two'), mode: 0o644 }], stamp(2));
    await waitFor(async () => (await sh(c3.id, 'cat /etc/cfg/a.txt')).out === 'two', 'the update in the guest', 10_000);
    assert.equal((await sh(c3.id, 'ls /etc/cfg')).out, 'a.txt\n', 'a removed key is gone');

    // hostPath is refused before anything reaches the guest
    const bad = container('c-host', ['true']);
    bad.mounts = [{ hostPath: '/etc', containerPath: '/host-etc', readOnly: true, type: 'bind' }];
    await assert.rejects(h.createContainer(bad, sig()), /\/etc is a host path; microvm pods only take configMap, secret, downwardAPI, projected and emptyDir/);
    await assert.rejects(h.status(bad.id, sig()), /not found/);

    // the layer's blocks reach the sparse disk file, and go back to the host when the container goes
    const diskFile = join(stateDir, 'sandboxes', sid, 'disk.ext4');
    const used = (): number => statSync(diskFile).blocks * 512;
    assert.equal((await sh(c3.id, 'head -c 8388608 /dev/urandom > /big && sync')).code, 0);
    const withLayer = used();
    assert.ok(withLayer > 8 << 20, `disk file allocates ${withLayer} bytes after an 8 MiB write`);

    // a new container of the pod shares the emptyDir but gets a fresh writable layer
    await h.remove(c3.id, sig());
    await waitFor(async () => used() < withLayer - (6 << 20), 'the removed layer discarded from the disk file', 10_000);
    const c4 = container('c4', ['sh', '-c', 'cat /scratch/x; cat /c3-root 2>/dev/null || echo no-c3-layer']);
    c4.mounts = [{ hostPath: join(vols, 'empty-dir', 'scratch'), containerPath: '/scratch', readOnly: true, type: 'bind' }];
    await h.createContainer(c4, sig());
    await h.start(c4.id, sig());
    await waitFor(async () => (await h.status(c4.id, sig())).status.state === 'exited', 'c4 exit');
    const c4Out = readFileSync(c4.logPath, 'utf8').trimEnd().split('\n').map((l) => parseCriLine(l)?.message);
    assert.deepEqual(c4Out, ['from-c3', 'no-c3-layer']);
    await h.remove(c4.id, sig());
  });

  test('a PVC is a writable 9p share of the claim directory: a non-root container writes, the next reads, the host holds it; no symlink escape', async () => {
    const w = container('c-pvc-w', ['sh', '-c', 'id -u; cat /data/from-runc; echo kept > /data/out.txt && mkdir -p /data/d && echo ok; cat /data/escape 2>&- || echo no-escape; touch /ro/y 2>&- || echo ro-refused']);
    w.user = { uid: 1000, gid: 1000, additionalGids: [] };
    w.mounts = [
      { hostPath: claimDir, containerPath: '/data', readOnly: false, type: 'bind' },
      { hostPath: claimDir, containerPath: '/ro', readOnly: true, type: 'bind' },
    ];
    await h.createContainer(w, sig());
    await h.start(w.id, sig());
    await waitFor(async () => (await h.status(w.id, sig())).status.state === 'exited', 'writer exit');
    const wOut = readFileSync(w.logPath, 'utf8').trimEnd().split('\n').map((l) => parseCriLine(l)?.message);
    assert.equal(wOut[0], '1000');
    assert.equal(wOut[1], 'written on the host');
    assert.equal(wOut[2], 'ok');
    // the host symlink is resolved in the guest (no such file there), never by qemu on the host
    assert.doesNotMatch(wOut.join('\n'), /host secret/);
    assert.deepEqual(wOut.slice(3), ['no-escape', 'ro-refused']);
    // the host holds the file: a plain file (mapped-xattr: owner and mode live in xattrs)
    assert.equal(readFileSync(join(claimDir, 'out.txt'), 'utf8'), 'kept\n');
    assert.ok(statSync(join(claimDir, 'd')).isDirectory());
    // the next container (of a subPath) reads it
    const r = container('c-pvc-r', ['sh', '-c', 'cat /sub/../out.txt 2>/dev/null; ls /sub; stat -c %u /data/out.txt']);
    mkdirSync(join(claimDir, 'd', 'inner'), { recursive: true });
    r.mounts = [
      { hostPath: join(claimDir, 'd'), containerPath: '/sub', readOnly: true, type: 'bind' },
      { hostPath: claimDir, containerPath: '/data', readOnly: true, type: 'bind' },
    ];
    await h.createContainer(r, sig());
    await h.start(r.id, sig());
    await waitFor(async () => (await h.status(r.id, sig())).status.state === 'exited', 'reader exit');
    const rOut = readFileSync(r.logPath, 'utf8').trimEnd().split('\n').map((l) => parseCriLine(l)?.message);
    assert.deepEqual(rOut, ['inner', '1000'], 'the subPath is the claim\'s d/, and the guest keeps the writer\'s uid');
    await h.remove(w.id, sig());
    await h.remove(r.id, sig());
  });

  test('exec, network, stats, adoption by a restarted agent, stop', async () => {
    const c2 = container('c2', ['sleep', '1000']);
    c2.resources = { cpuLimitMilli: 400, memoryLimitBytes: 64 << 20, pidsLimit: 50 };
    await h.createContainer(c2, sig());
    await h.start(c2.id, sig());
    assert.equal((await h.status(c2.id, sig())).status.state, 'running');

    // the guest owns the pod IP: the host reaches it through the veth → tc redirect → tap
    const netOut = new PassThrough();
    let netText = '';
    netOut.on('data', (d: Buffer) => (netText += d.toString()));
    assert.equal(await h.exec(c2.id, { command: ['cat', '/proc/net/route', '/sys/class/net/eth0/mtu', '/sys/class/net/eth0/address'], tty: false, stdout: netOut, signal: sig() }), 0);
    assert.match(netText, /^eth0\s+00000000\s+0107D50A\s/m, 'default route via the pod gateway');
    assert.match(netText, /^1400$/m, 'the CNI interface MTU');
    const podMac = execFileSync('ip', ['-n', ns, '-o', 'link', 'show', 'eth0']).toString();
    assert.ok(podMac.includes(netText.trim().split('\n').pop() ?? 'none'), 'the guest NIC has the CNI MAC');
    execFileSync('busybox', ['ping', '-c', '1', '-W', '10', net.pod]);
    const rx = (await h.sandboxStats(sid, sig())).network?.interfaces.find((i) => i.name === 'eth0');
    assert.ok(rx && rx.rxBytes > 0 && rx.txBytes > 0, `guest eth0 counters ${JSON.stringify(rx)}`);

    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    assert.equal(await h.exec(c2.id, { command: ['sh', '-c', 'echo hi; echo $FOO; exit 3'], tty: false, stdout: out, signal: sig() }), 3);
    assert.equal(text, 'hi\nbar\n');

    const stdin = new PassThrough();
    const catOut = new PassThrough();
    let catText = '';
    catOut.on('data', (d: Buffer) => (catText += d.toString()));
    const catDone = h.exec(c2.id, { command: ['cat'], tty: false, stdin, stdout: catOut, signal: sig() });
    stdin.end('piped through the guest\n');
    assert.equal(await catDone, 0);
    assert.equal(catText, 'piped through the guest\n');

    const s = await h.sandboxStats(sid, sig());
    assert.ok(s.memory.workingSetBytes > 0 && s.cpu.usageCoreNanoSeconds > 0);
    assert.ok((s.blkio?.readBytes ?? 0) > 0, 'the rootfs disk was read');

    // per container: its own cgroup in the guest, with the container's limits, counted apart from the VM
    const cg = await sh(c2.id, 'cat /proc/self/cgroup');
    assert.match(cg.out, /^0::\/c\/[0-9a-f]{16}$/m, 'execs join the container cgroup');
    const c0 = await h.stats(c2.id, sig());
    assert.ok(c0.processes !== undefined && c0.processes >= 1, `processes ${c0.processes}`);
    assert.ok(c0.cpu.throttling && c0.cpu.throttling.periods > 0, `a CPU limit gives throttling figures: ${JSON.stringify(c0.cpu)}`);
    assert.ok(c0.memory.usageBytes < (await h.sandboxStats(sid, sig())).memory.usageBytes, 'a container uses less than its VM');
    assert.equal((await sh(c2.id, 'dd if=/dev/zero of=/dev/shm/m bs=1M count=16 2>/dev/null')).code, 0);
    const c1s = await h.stats(c2.id, sig());
    const grew = c1s.memory.workingSetBytes - c0.memory.workingSetBytes;
    assert.ok(grew >= 16 << 20 && grew < 20 << 20, `16 MiB in the container's /dev/shm: working set grew by ${grew}`);
    // past the container's 64 MiB limit the guest's OOM killer ends the process, inside the VM's memory
    const oom = await sh(c2.id, 'rm /dev/shm/m; busybox awk \'BEGIN { s = "xxxxxxxxxxxxxxxx"; for (;;) s = s s }\'');
    assert.equal(oom.code, 137, `killed by the OOM killer: ${oom.out}`);
    assert.equal((await h.stats(c2.id, sig())).memory.oomKills, 1);
    assert.equal((await h.status(c2.id, sig())).status.state, 'running', 'the container\'s own process survives');

    // agent restart: a new handler on the same state finds the VM and the running container
    await h.close();
    h = mk();
    const listed = await h.list(sig());
    assert.deepEqual(listed.map((c) => [c.id, c.status.state]), [[c2.id as ContainerId, 'running']]);
    assert.equal(await h.exec(c2.id, { command: ['true'], tty: false, signal: sig() }), 0);

    await h.stop(c2.id, { timeoutSeconds: 5, signal: sig() });
    const st = (await h.status(c2.id, sig())).status;
    assert.equal(st.state === 'exited' && st.exitCode, 143, 'SIGTERM');
  });

  test('removeSandbox leaves no qemu, sockets, tap, redirect, cgroup or state behind', async () => {
    await h.removeSandbox(sid, sig());
    assert.equal(await processGone(qemuPid), true);
    assert.doesNotMatch(execFileSync('ip', ['-n', ns, 'link']).toString(), /hedgetap0/);
    assert.doesNotMatch(execFileSync('tc', ['-n', ns, 'qdisc', 'show', 'dev', 'eth0']).toString(), /ingress/);
    assert.equal(existsSync(`/sys/fs/cgroup/memory/${cgroupParent}`), false);
    assert.deepEqual(readdirSync(join(stateDir, 's')), []);
    assert.deepEqual(readdirSync(join(stateDir, 'sandboxes')), []);
    assert.deepEqual(readdirSync(join(stateDir, 'containers')), []);
    assert.equal(existsSync(join(podDir, 'sandbox')), false);
    assert.equal(existsSync(join(stateDir, 'sandboxes', sid, 'disk.ext4')), false);
    // the claim's data outlives the VM, and nothing keeps its directory busy (local-path DELETE removes it)
    assert.equal(readFileSync(join(claimDir, 'out.txt'), 'utf8'), 'kept\n');
    rmSync(claimDir, { recursive: true });
    assert.equal(execFileSync('sh', ['-c', `ps -eo stat=,args= | grep -v '^Z' | grep -F 'hedge-${sid}' | grep -v grep || true`]).toString().trim(), '');
    await h.removeSandbox(sid, sig());
  });
});
