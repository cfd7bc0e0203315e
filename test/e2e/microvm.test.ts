/**
 * Issue 5's end-to-end check: a pod with runtimeClassName `microvm` on a real `hedge server` +
 * `hedge node` (qemu -M microvm; TCG here, KVM where it works), driven with the real kubectl.
 * It serves HTTP on its pod IP, logs/exec work through the apiserver, its configMap, secret,
 * projected token and emptyDir volumes appear in the guest (a configMap update too) and its rootfs
 * is writable, an escape check runs inside, the VM outlives a kill -9 of the agent and is adopted,
 * and delete leaves nothing on the host (no VM disk files either).
 * Skips (with the reason) without root, qemu, a Debian guest kernel, busybox-static, a C compiler,
 * the registry or CNI plugins. The guest build is cached in $TMPDIR/hedge-guest-cache (shared with
 * the handler's unit test); a cold build takes ~6 s.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, run, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason, type HedgeNode } from './node-harness.ts';
import { fetchText as fetchPodText, waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];

function skipReason(): string | undefined {
  return edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)') ?? microvmSkipReason();
}

/** qemu processes whose command line points into `dir` (sockets, pidfile, console live there) */
async function qemuPids(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const argv = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.includes('qemu-system') && argv.some((a) => a.includes(dir))) out.push(Number(d));
  }
  return out;
}

describe('microvm: a pod in its own VM on hedge server + hedge node', { skip: skipReason(), timeout: 240_000 }, () => {
  let server: HedgeServer;
  let node: HedgeNode;
  let stack: EdgeStack | undefined;
  let httpdImage = '';
  let pod: Pod;
  const nodeName = `e2e-mvm-${process.pid}`;

  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  const explain = (): string => `node output:\n${node.output().slice(-3000)}`;
  const waitRunning = (name: string, timeoutMs = 60_000): Promise<Pod> =>
    waitUntil(`${name} Running with an IP`, timeoutMs, async () => {
      const p = await getPod(name);
      return p?.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready ? p : undefined;
    }, explain);
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await server.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const exec = (cmd: string): Promise<string> => kubectl(['exec', 'web-mvm', '--', 'sh', '-c', cmd]);
  const fetchText = (ip: string): Promise<string> => fetchPodText(ip, { timeoutMs: 10_000 });

  before(async () => {
    stack = await startEdgeStack({ nodes: [] });
    ({ server, httpdImage } = stack);
    const config = join(stack.tmp, 'node.yaml');
    await writeFile(config, `guestDir: ${join(tmpdir(), 'hedge-guest-cache')}\nmicrovmAccelerator: auto\n`);
    node = await stack.addNode({ name: nodeName, runtimes: ['microvm'], extraArgs: ['--config', config, '--volume-refresh-seconds', '2'] });
  });

  after(async () => {
    await stack?.deleteAllPods();
    if (node) for (const pid of await qemuPids(node.dataDir)) process.kill(pid, 'SIGKILL');
    await stack?.close();
  });

  it('the node offers microvm and labels the accelerator it detected', async () => {
    const n = await waitUntil('node Ready', 30_000, async () => {
      const r = await server.api('GET', `/api/v1/nodes/${nodeName}`);
      const nd = r.body as Node;
      return nd.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? nd : undefined;
    }, explain);
    assert.match(n.metadata?.labels?.['hedge.io/microvm-accelerator'] ?? '', /^(kvm|tcg)$/);
  });

  it('a microvm pod reaches Running and serves HTTP on its pod IP', async () => {
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mvm-cfg' }, data: { greeting: 'v1', 'app.conf': 'port=8080\n' } },
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mvm-sec' }, stringData: { password: 'hunter2' } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'mvm-sa' } },
      ],
    }));
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-mvm' },
      spec: {
        runtimeClassName: 'microvm',
        terminationGracePeriodSeconds: 2,
        serviceAccountName: 'mvm-sa',
        volumes: [
          { name: 'cfg', configMap: { name: 'mvm-cfg' } },
          { name: 'sec', secret: { secretName: 'mvm-sec', defaultMode: 0o400 } },
          { name: 'cache', emptyDir: {} },
          { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
          {
            name: 'token',
            projected: {
              sources: [
                { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
                { downwardAPI: { items: [{ path: 'podname', fieldRef: { fieldPath: 'metadata.name' } }] } },
              ],
            },
          },
        ],
        containers: [{
          name: 'web',
          image: httpdImage,
          // the container process itself writes the emptyDir that exec reads below
          command: ['sh', '-c', 'echo from-main > /cache/x; echo serving on 8080; exec httpd -f -p 8080 -h /www'],
          volumeMounts: [
            { name: 'cfg', mountPath: '/etc/cfg' },
            { name: 'sec', mountPath: '/etc/sec' },
            { name: 'cache', mountPath: '/cache' },
            { name: 'mem', mountPath: '/mem' },
            { name: 'token', mountPath: '/var/run/secrets/tokens' },
          ],
          ports: [{ containerPort: 8080 }],
          // Ready = listening: under TCG httpd binds a while after its process starts
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
          resources: { limits: { memory: '64Mi' } },
        }],
      },
    }));
    pod = await waitRunning('web-mvm', 90_000);
    assert.ok(pod.spec?.overhead?.memory, 'the RuntimeClass overhead was admitted onto the pod');
    assert.match(await fetchText(pod.status!.podIP!), /hello from hedge/);
    const [qemu] = await qemuPids(node.dataDir);
    assert.ok(qemu, 'a qemu process for the pod');
    // qemu is charged to the pod cgroup, limited to the container limits + RuntimeClass overhead
    const cg = (await readFile(`/proc/${qemu}/cgroup`, 'utf8')).split('\n').find((l) => /:memory:/.test(l))?.split(':')[2] ?? '';
    assert.match(cg, new RegExp(`^/${node.cgroupRoot}/pod${pod.metadata!.uid}$`));
    const limit = Number(await readFile(`/sys/fs/cgroup/memory${cg}/memory.limit_in_bytes`, 'utf8'));
    assert.ok(limit > 64 * 1024 * 1024 && limit < 1024 * 1024 * 1024, `pod memory limit ${limit}`);
  });

  it('kubectl logs and exec work', async () => {
    assert.match(await kubectl(['logs', 'web-mvm']), /serving on 8080/);
    assert.equal((await kubectl(['exec', 'web-mvm', '--', 'echo', 'hi'])).trim(), 'hi');
    assert.equal((await kubectl(['exec', '-i', 'web-mvm', '--', 'cat'], 'through stdin\n')), 'through stdin\n');
  });

  it('volumes: configMap, secret, projected token and emptyDirs are in the guest; the rootfs is writable', async () => {
    const out = await exec([
      'cat /etc/cfg/greeting; echo; cat /etc/sec/password; echo',
      'stat -L -c %a /etc/cfg/greeting /etc/sec/password',
      'touch /etc/cfg/new 2>/dev/null && echo writable || echo read-only',
      'cat /cache/x; cat /var/run/secrets/tokens/podname; echo',
      'echo in-tmp > /tmp/t && cat /tmp/t; echo in-root > /rootfile && cat /rootfile',
      'echo m > /mem/f && cat /mem/f; grep " /mem " /proc/mounts',
    ].join('; '));
    const lines = out.split('\n');
    assert.deepEqual(lines.slice(0, 11), ['v1', 'hunter2', '644', '400', 'read-only', 'from-main', 'web-mvm', 'in-tmp', 'in-root', 'm', lines[10]]);
    assert.match(lines[10] ?? '', /^tmpfs \/mem tmpfs .*size=16384k/, 'Memory emptyDir: a guest tmpfs of its sizeLimit');
    // the bound token the node requested is what the guest reads
    const hostToken = await readFile(join(node.dataDir, 'pods', pod.metadata!.uid!, 'volumes', 'projected', 'token', 'token'), 'utf8');
    assert.match(hostToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(await exec('cat /var/run/secrets/tokens/token'), hostToken);
  });

  it('a configMap update shows inside the guest', async () => {
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mvm-cfg' }, data: { greeting: 'v2', 'app.conf': 'port=8080\n' } }));
    const read = async (): Promise<true | undefined> => ((await exec('cat /etc/cfg/greeting')) === 'v2' ? true : undefined);
    // the node re-reads volume sources every --volume-refresh-seconds (2 here); the guest sees the ..data swap over 9p
    await waitUntil('the update in the guest', 15_000, read);
  });

  it('escape check: the workload sees the guest kernel, not the host', async () => {
    const guestRelease = (await exec('uname -r')).trim();
    assert.notEqual(guestRelease, release(), 'a different kernel from the host');
    assert.equal((await exec('cat /proc/sys/kernel/osrelease')).trim(), guestRelease);
    // /proc: the guest's processes only; its pid 1 is our guest agent, nothing of the host (node agent, qemu) is there
    const procs = (await exec('for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done')).split('\n').filter((l) => l.trim() !== '');
    assert.match((await exec('tr "\\0" " " < /proc/1/cmdline')).trim(), /hedge-agent/);
    assert.ok(procs.length < 30, `guest processes: ${procs.join(' | ')}`);
    for (const p of procs) assert.doesNotMatch(p, /hedge\.js|qemu|conmon|node /, `host process visible: ${p}`);
    // mounts: the guest's own (overlay over its disk, proc, sysfs, tmpfs), no host path or cgroup
    const mounts = await exec('cat /proc/mounts');
    assert.ok(!mounts.includes(node.dataDir) && !mounts.includes(tmpdir()) && !/cgroup/.test(mounts), mounts);
    // block devices: none in /dev, and the kernel knows only the VM's own disks (SCSI rootfs, vda sandbox disk), not the host's
    assert.doesNotMatch(await exec('ls /dev'), /^(sd|vd|nvme|xvd|loop|dm-)/m);
    const hostDisks = (await readFile('/proc/partitions', 'utf8')).split('\n').slice(2).map((l) => l.trim().split(/\s+/)[3]).filter((d): d is string => !!d);
    const guestDisks = (await exec('cat /proc/partitions')).split('\n').slice(2).map((l) => l.trim().split(/\s+/)[3]).filter((d): d is string => !!d);
    assert.ok(guestDisks.includes('vda') && guestDisks.every((d) => /^(sd[a-z]+|vda)$/.test(d)), `guest disks: ${guestDisks.join(',')}`);
    // the host's own disk may be called vda too: compare sizes, not names
    const sizes = (t: string): Map<string, string> => new Map(t.split('\n').slice(2).map((l) => l.trim().split(/\s+/)).filter((f) => f[3]).map((f) => [f[3]!, f[2]!]));
    const guestSizes = sizes(await exec('cat /proc/partitions'));
    const hostSizes = sizes(await readFile('/proc/partitions', 'utf8'));
    for (const d of hostDisks.filter((x) => !/^sd/.test(x))) assert.ok(guestSizes.get(d) !== hostSizes.get(d), `host disk ${d} visible`);
    // kernel modules: the host's modules are not there to load; what is loaded is the guest's
    assert.equal((await exec(`test -e /lib/modules/${release()} && echo present || echo absent`)).trim(), 'absent');
    // Debian's guest kernel loads its own virtio modules; the tailored one has no module support at all
    assert.match(await exec('cat /proc/modules 2>/dev/null || echo no-module-support'), /^(virtio_mmio |no-module-support$)/m);
  });

  it('kill -9 of the agent leaves the VM running; the restarted agent adopts it', async () => {
    const before = (await getPod('web-mvm'))!;
    const qemuBefore = await qemuPids(node.dataDir);
    assert.equal(qemuBefore.length, 1);
    await node.kill9();
    assert.match(await fetchText(before.status!.podIP!), /hello from hedge/, 'the pod serves while the agent is down');
    await node.start();
    await waitUntil('restarted agent serving logs', 30_000, async () => {
      const r = await server.kubectl(['logs', 'web-mvm']);
      return r.code === 0 && r.stdout.includes('serving on 8080') ? true : undefined;
    }, explain);
    const a = await waitRunning('web-mvm');
    const cs = a.status?.containerStatuses?.[0];
    const bs = before.status?.containerStatuses?.[0];
    assert.equal(a.metadata?.uid, before.metadata?.uid);
    assert.equal(cs?.restartCount, bs?.restartCount);
    assert.equal(cs?.containerID, bs?.containerID);
    assert.equal(cs?.state?.running?.startedAt, bs?.state?.running?.startedAt);
    assert.deepEqual(await qemuPids(node.dataDir), qemuBefore, 'the same VM');
    assert.equal((await kubectl(['exec', 'web-mvm', '--', 'echo', 'adopted'])).trim(), 'adopted');
  });

  it('a hostPath volume is refused for a microvm pod, with the reason on the container', async () => {
    if (!node.running()) await node.start();
    // Pod Security (baseline, the cluster default) would refuse the pod at admission; this test is about the node refusing it
    await kubectl(['label', 'namespace', 'default', 'pod-security.kubernetes.io/enforce=privileged', '--overwrite']);
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hostpath-mvm' },
      spec: {
        runtimeClassName: 'microvm',
        terminationGracePeriodSeconds: 1,
        volumes: [{ name: 'host', hostPath: { path: '/etc' } }],
        containers: [{ name: 'c', image: httpdImage, command: ['sleep', '1000'], volumeMounts: [{ name: 'host', mountPath: '/host-etc' }] }],
      },
    }));
    const waiting = await waitUntil('the hostPath refusal on the container status', 60_000, async () => {
      const w = (await getPod('hostpath-mvm'))?.status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' ? w : undefined;
    }, explain);
    assert.match(waiting.message ?? '', /\/etc is a host path; microvm pods only take configMap, secret, downwardAPI, projected and emptyDir volumes/);
  });

  it('terminals and stdin: exec -it on a guest pty with its size, exec -i of 1 MiB, run -i --rm, attach -it to a stdin+tty container', async () => {
    if (!node.running()) await node.start();
    const bin = findKubectl()!;
    const env = { ...process.env, KUBECONFIG: server.kubeconfig };
    // kubectl uses a terminal only when its stdin is one: script(1) gives it one, 30 rows × 100 columns
    const inTerminal = (cmd: string): ChildProcessWithoutNullStreams & { text: () => string } => {
      const p = spawn('script', ['-qfec', `stty cols 100 rows 30; exec ${cmd}`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return Object.assign(p, { text: () => out });
    };
    const exitOf = (p: ChildProcessWithoutNullStreams): Promise<number | null> =>
      p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((resolve) => p.on('exit', (code) => resolve(code)));

    // exec -it: the shell's terminal is a pty in the guest, sized from kubectl's resize channel
    const ex = inTerminal(`${bin} exec -it web-mvm -- sh -c 'tty; while [ "$(stty size)" = "0 0" ]; do sleep 0.1; done; echo "size $(stty size)"; exit 3'`);
    try {
      assert.equal(await Promise.race([exitOf(ex), new Promise<null>((r) => setTimeout(() => r(null), 60_000))]), 3, ex.text());
      assert.match(ex.text(), /\/dev\/pts\/\d+/);
      assert.match(ex.text(), /size 30 100/);
    } finally {
      if (ex.exitCode === null) ex.kill('SIGKILL');
    }

    // exec -i: 1 MiB, 16 times the guest's stdin buffer, through wc -c
    assert.equal((await kubectl(['exec', '-i', 'web-mvm', '--', 'wc', '-c'], 'x'.repeat(1 << 20))).trim(), String(1 << 20));

    // run -i --rm (stdinOnce): the input's end closes cat's stdin, cat exits, --rm deletes the pod
    const overrides = JSON.stringify({ apiVersion: 'v1', spec: { runtimeClassName: 'microvm', terminationGracePeriodSeconds: 1 } });
    const runOut = await kubectl(['run', 'stdin-mvm', '-i', '--rm', '--restart=Never', `--image=${stack!.busyboxImage}`, `--overrides=${overrides}`, '--command', '--', 'cat'], 'hello through stdin\n');
    assert.match(runOut, /^hello through stdin$/m);

    // a container with its own stdin and terminal: attach -it types into it and sizes it
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'tty-mvm' },
      spec: { runtimeClassName: 'microvm', restartPolicy: 'Never', terminationGracePeriodSeconds: 1,
        containers: [{ name: 'sh', image: stack!.busyboxImage, tty: true, stdin: true, stdinOnce: true,
          // kubectl attach sends the size one larger, then the size, to force a redraw: wait for the last
          command: ['sh', '-c', 'read x; until [ "$(stty size)" = "30 100" ]; do sleep 0.1; done; echo "size $(stty size) got $x"'] }] },
    }));
    await waitUntil('tty-mvm Running', 60_000, async () => ((await getPod('tty-mvm'))?.status?.phase === 'Running' ? true : undefined), explain);
    const at = inTerminal(`${bin} attach -it tty-mvm`);
    try {
      // printed once kubectl has put the terminal in raw mode: typing from then on goes to the container
      await waitUntil('kubectl attach ready', 30_000, async () => (at.text().includes("If you don't see a command prompt") ? true : undefined), () => at.text());
      at.stdin.write('hi\n');
      assert.equal(await Promise.race([exitOf(at), new Promise<null>((r) => setTimeout(() => r(null), 30_000))]), 0, `${at.text()}\n${explain()}`);
      assert.match(at.text(), /size 30 100 got hi/);
    } finally {
      at.stdin.end();
      if (at.exitCode === null) at.kill('SIGKILL');
    }
    await kubectl(['delete', 'pod', 'tty-mvm', 'stdin-mvm', '--ignore-not-found', '--wait=true', '--timeout=60s']);
  });

  it('kubectl delete leaves no qemu, tap, netns, socket, cgroup, disk or state behind', async () => {
    if (!node.running()) await node.start();
    await kubectl(['delete', 'pod', 'web-mvm', 'hostpath-mvm', '--wait=true', '--timeout=60s']);
    const mvmState = join(node.dataDir, 'runtimes', 'microvm');
    const leftovers = async (): Promise<string[]> => {
      const st = await node.hostState();
      const out: string[] = [];
      if ((await qemuPids(node.dataDir)).length) out.push('qemu');
      if (st.netns.length) out.push(`netns ${st.netns.join(',')}`);
      if (st.podCgroups.length) out.push(`cgroups ${st.podCgroups.join(',')}`);
      if (st.bridgePorts.length) out.push(`bridge ports ${st.bridgePorts.join(',')}`);
      if (st.mounts.length) out.push(`mounts ${st.mounts.join(',')}`);
      for (const d of ['s', 'sandboxes', 'containers']) {
        const left = await readdir(join(mvmState, d)).catch(() => [] as string[]);
        if (left.length) out.push(`${d}/: ${left.join(',')}`);
      }
      // VM disks: only the shared read-only rootfs images may stay (a cache keyed by image digest)
      const disks = await run('sh', ['-c', `find ${mvmState} -name '*.ext4' -not -path '${mvmState}/images/*'`]);
      if (disks.stdout.trim()) out.push(`disk files ${disks.stdout.trim()}`);
      // the sandbox's state dir (the handler's per-pod directory)
      if (existsSync(join(node.dataDir, 'pods', pod.metadata!.uid!, 'sandbox'))) out.push('pod sandbox dir');
      return out;
    };
    let last: string[] = [];
    await waitUntil('host state clean', 20_000, async () => {
      last = await leftovers();
      return last.length === 0 ? true : undefined;
    }, () => last.join('\n'));
    // the tap lived in the pod netns; with the netns gone no hedgetap0 can be left anywhere
    const taps = await run('sh', ['-c', 'ip -o link show type tun 2>/dev/null | grep -c hedgetap || true']);
    assert.equal(taps.stdout.trim(), '0');
  });
});
