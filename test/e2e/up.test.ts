/**
 * `hedge up` leaves nothing on the host when it stops: the real command (control plane + node +
 * demo, runc only) with its node's host names made unique (bridge, netns dir, cgroup root, nftables
 * tables, node name, pod range) so it runs beside the other e2e files. One run is SIGKILLed with a
 * pod of ours and the demo pod running, the next adopts them and stops on Ctrl-C (SIGINT), a third
 * is stopped with two: each stop must leave no bridge, nftables table, iptables chain, conmon or
 * container process, mount, netns, cgroup, BPF pin or demo registry behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { nodeMasqChain, removeNodeMasq } from '../../src/agent/network/node-masq.ts';
import { removePodCgroup } from '../../src/agent/host/cgroup.ts';
import { findKubectl, readLines, REPO_ROOT, run, type LineReader } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter', '/usr/sbin/nft', '/usr/sbin/iptables'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

interface Up {
  child: ChildProcess;
  lines: LineReader;
  exited: Promise<number | null>;
}

describe('hedge up: stops its pods and removes its host state', { skip, timeout: 300_000 }, () => {
  const rand = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  const bridge = `hu${rand}`;
  const netnsDir = `/run/hedge/e2e-up-${rand}/netns`;
  const cgroupRoot = `hedge-e2e-up-${rand}`;
  const nodeName = `e2e-up-${rand}`;
  const proxyTable = `hu-proxy-${rand}`;
  const policyTable = `hu-policy-${rand}`;
  // a /24 of its own in 10.200.0.0/13, as node-harness.ts picks (the default 10.244.0.0/16 is other tests')
  const clusterCidr = `10.${200 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}.0/24`;
  let dataDir = '';
  let current: Up | undefined;
  const kubeconfig = (): string => join(dataDir, 'kubeconfig');

  const startUp = async (extra: string[] = []): Promise<Up> => {
    // a test that failed before stopping its run must not make the next one fail on "another hedge up"
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    const child = spawn(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'hedge.js'), 'up', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--bridge', bridge, '--cluster-cidr', clusterCidr, '--node-config', join(dataDir, 'node.yaml'), ...extra],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const up = { child, lines: readLines(child), exited };
    current = up;
    await up.lines.waitFor((l) => l.startsWith('export KUBECONFIG='), 150_000);
    return up;
  };
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await run(findKubectl()!, ['--kubeconfig', kubeconfig(), ...args], { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const getPod = async (ns: string, name: string): Promise<Pod | undefined> => {
    const r = await run(findKubectl()!, ['--kubeconfig', kubeconfig(), 'get', 'pod', '-n', ns, name, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as Pod) : undefined;
  };
  const waitRunning = (ns: string, name: string): Promise<Pod> =>
    waitUntil(`${ns}/${name} Running and Ready`, 90_000, async () => {
      const p = await getPod(ns, name);
      return p?.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready ? p : undefined;
    }, () => current?.lines.lines.slice(-30).join('\n') ?? '');

  /** processes whose command line names `needle` */
  const processesNaming = async (needle: string): Promise<string[]> => {
    const out: string[] = [];
    for (const d of await readdir('/proc')) {
      if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
      const argv = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
      if (argv.some((a) => a.includes(needle))) out.push(`${d} ${argv.slice(0, 3).join(' ')}`);
    }
    return out;
  };

  /** everything of this `hedge up` still on the host, one line each */
  const leftovers = async (o: { registryDir?: string } = {}): Promise<string[]> => {
    const left: string[] = [];
    if (existsSync(`/sys/class/net/${bridge}`)) left.push(`bridge ${bridge}`);
    const tables = (await run('nft', ['list', 'tables'])).stdout.split('\n').map((l) => l.trim());
    for (const t of tables) if (t.includes(bridge) || t.includes(proxyTable) || t.includes(policyTable)) left.push(`nft ${t}`);
    for (const bin of ['iptables', 'ip6tables']) {
      const nat = (await run(bin, ['-w', '-t', 'nat', '-S'])).stdout;
      for (const l of nat.split('\n')) if (l.includes(nodeMasqChain({ bridge })) || l.includes(`bridge=${bridge}`)) left.push(`${bin} ${l}`);
    }
    // conmon, runc inits (their bundles), the node's processes: anything naming the data dir
    for (const p of await processesNaming(dataDir)) left.push(`process ${p}`);
    if (o.registryDir) for (const p of await processesNaming(o.registryDir)) left.push(`registry process ${p}`);
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '');
    for (const m of mounts) if (m.startsWith(`${dataDir}/`) || m.startsWith(`${netnsDir}/`)) left.push(`mount ${m}`);
    if (existsSync(netnsDir)) left.push(`dir ${netnsDir} (${(await readdir(netnsDir)).join(' ')})`);
    for (const ctl of ['memory', 'cpu', 'pids', 'unified']) if (existsSync(`/sys/fs/cgroup/${ctl}/${cgroupRoot}`)) left.push(`cgroup ${ctl}/${cgroupRoot}`);
    if (existsSync(`/sys/fs/bpf/hedge-${nodeName}`)) left.push(`bpf pins /sys/fs/bpf/hedge-${nodeName}`);
    if (o.registryDir && existsSync(o.registryDir)) left.push(`dir ${o.registryDir}`);
    return left;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'hedge-up-e2e-'));
    await writeFile(
      join(dataDir, 'node.yaml'),
      [`nodeName: ${nodeName}`, 'runtimes: [runc]', `netnsDir: ${netnsDir}`, `cgroupRoot: ${cgroupRoot}`, `serviceProxyTable: ${proxyTable}`, `networkPolicyTable: ${policyTable}`, 'ingressHttpPort: 0', 'ingressHttpsPort: 0', ''].join('\n'),
    );
  });

  after(async () => {
    // best effort, for a run that failed half-way
    if (current && current.child.exitCode === null) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    // a run SIGKILLed here leaves its demo registry, which up.json names (the next run would remove it)
    const reg = await readFile(join(dataDir, 'up.json'), 'utf8').then((t) => (JSON.parse(t) as { registry?: { dir: string } }).registry, () => undefined);
    for (const p of [...(await processesNaming(dataDir)), ...(reg ? await processesNaming(reg.dir) : [])]) {
      try {
        process.kill(Number(p.split(' ')[0]), 'SIGKILL');
      } catch {
        // gone
      }
    }
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '');
    for (const m of mounts.filter((x) => x.startsWith(`${dataDir}/`) || x.startsWith(`${netnsDir}/`)).sort((a, b) => b.length - a.length)) await run('umount', ['-l', m]);
    await rm(join(netnsDir, '..'), { recursive: true, force: true });
    await removePodCgroup({ cgroupRoot: '/sys/fs/cgroup', cgroupParent: cgroupRoot }).catch(() => undefined);
    await run('ip', ['link', 'del', bridge]);
    await removeNodeMasq({ bridge });
    for (const family of ['netdev', 'bridge', 'inet']) await run('nft', ['delete', 'table', family, `hedge-guard-${bridge}`]);
    await run('nft', ['delete', 'table', 'ip', proxyTable]);
    await run('nft', ['delete', 'table', 'inet', policyTable]);
    await rm(`/sys/fs/bpf/hedge-${nodeName}`, { recursive: true, force: true });
    if (reg) await rm(reg.dir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  let podUid = '';
  let containerId = '';
  let firstRegistry: { pid: number; dir: string } | undefined;

  it('after a SIGKILL, a second hedge up adopts the running pods and Ctrl-C then removes everything', async (t) => {
    let up = await startUp();
    const image = /^demo: image (\S+)/.exec(up.lines.lines.find((l) => l.startsWith('demo: image ')) ?? '')?.[1];
    assert.ok(image, `no demo image line:\n${up.lines.lines.join('\n')}`);
    firstRegistry = (JSON.parse(await readFile(join(dataDir, 'up.json'), 'utf8')) as { registry?: { pid: number; dir: string } }).registry;
    assert.ok(firstRegistry, 'up.json names the demo registry');
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'mine', namespace: 'default' },
      // httpd as pid 1 ignores SIGTERM: a short grace keeps the stop short
      spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'web', image, command: ['sh', '-c', 'exec httpd -f -p 8080 -h /www'] }] },
    }));
    const pod = await waitRunning('default', 'mine');
    podUid = pod.metadata!.uid!;
    containerId = pod.status!.containerStatuses![0].containerID!;

    // a crash: nothing is cleaned, the pods keep running under conmon
    up.child.kill('SIGKILL');
    await up.exited;
    const crashed = await leftovers();
    assert.ok(crashed.some((l) => l === `bridge ${bridge}`), `the crash left the bridge:\n${crashed.join('\n')}`);
    assert.ok(crashed.some((l) => /conmon/.test(l)), `the crash left the pods' conmon:\n${crashed.join('\n')}`);

    up = await startUp();
    assert.ok(up.lines.lines.some((l) => /previous hedge up \(pid \d+\) did not stop cleanly/.test(l)), up.lines.lines.join('\n'));
    assert.deepEqual(await processesNaming(firstRegistry.dir), [], 'the crashed run\'s demo registry was stopped');
    // adopted, not restarted: same pod, same container
    const again = await waitRunning('default', 'mine');
    assert.equal(again.metadata!.uid, podUid);
    assert.equal(again.status!.containerStatuses![0].containerID, containerId);
    assert.equal(again.status!.containerStatuses![0].restartCount, 0);
    const registryDir = (JSON.parse(await readFile(join(dataDir, 'up.json'), 'utf8')) as { registry: { dir: string } }).registry.dir;

    up.child.kill('SIGINT');
    const code = await Promise.race([up.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 90_000))]);
    const said = up.lines.lines.join('\n');
    for (const l of up.lines.lines.filter((x) => /^(stopping|removed|stopped)/.test(x))) t.diagnostic(l);
    assert.equal(code, 0, `hedge up exit after SIGINT:\n${said}`);
    assert.match(said, /removed 1 pod /, 'the user pod was removed (the demo pod was deleted through the API first)');
    assert.match(said, new RegExp(`removed bridge ${bridge}`));
    assert.match(said, /removed nftables tables .*hedge-guard-/);
    assert.match(said, /removed iptables\/ip6tables nat chain HEDGE-MASQ-/);
    assert.deepEqual(await leftovers({ registryDir }), []);
    assert.ok(!existsSync(join(dataDir, 'up.json')), 'a clean stop leaves no up.json');
    // the cluster's state stays in the data dir: the pod is still there for the next run
    assert.ok(existsSync(join(dataDir, 'state.db')), 'control-plane state kept');
  });

  it('a second Ctrl-C hurries the stop and still removes everything', async () => {
    // no demo: the pod of the first test is still in the API and the node starts it again from its image store
    const up = await startUp(['--no-demo']);
    // the status still names the container the last stop removed until the node has started a new one
    const pod = await waitUntil('mine Running in a new container', 90_000, async () => {
      const p = await getPod('default', 'mine');
      const c = p?.status?.containerStatuses?.[0];
      return p?.status?.phase === 'Running' && c?.ready && c.containerID !== containerId ? p : undefined;
    }, () => up.lines.lines.slice(-30).join('\n'));
    assert.equal(pod.metadata!.uid, podUid);
    up.child.kill('SIGINT');
    await up.lines.waitFor((l) => l === 'stopping', 10_000);
    up.child.kill('SIGINT');
    const code = await Promise.race([up.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 60_000))]);
    assert.equal(code, 0, `hedge up exit after two SIGINTs:\n${up.lines.lines.join('\n')}`);
    assert.match(up.lines.lines.join('\n'), /removed 1 pod /);
    assert.deepEqual(await leftovers(), []);
  });
});
