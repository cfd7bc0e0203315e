/**
 * Node density: N runc pods (busybox `sleep`) created at once on one real `hedge node` (real
 * apiserver, scheduler, agent, CNI bridge, conmon, runc; image cached), beside N bare
 * `runc run -d` containers of an equivalent busybox bundle in the same run. Reports the time until
 * all are Running, pod start (create → Running on a watch) of the first and last pods in creation
 * order, the start of one pod created alone on the empty node and again with the N pods running
 * (the density start ratio), agent RSS at 0 / 20 / N pods, agent CPU while idle with N pods, host memory per pod
 * (conmon + the pod's own processes, beside the bare container's), and what is left after deleting
 * them all. The agent runs the `npm run build` bundle with bin/hedge.js's V8 flags. Prints a table;
 * asserts nothing. Needs root.
 * Run: node --import tsx bench/density.ts [--pods 100] [--idle-s 30]
 *
 * `--idle-only` measures just the agent's idle cost with the N pods running (no probes, no bare
 * runc): for each build (`--baseline DIR`, another checkout's bundle built with its own
 * scripts/build.mjs, e.g. a `git archive` of main with node_modules; then this checkout's) the node
 * is restarted over the running pods (it adopts them), left to settle for `--settle-s` (default
 * 60), and then measured: its CPU
 * (utime+stime from /proc/PID/stat) over `--idle-s`, the CPU of the children it reaped meanwhile
 * (cutime+cstime: runc, nsenter, nft, ip …), and then, in a separate window of `--execs-s` (strace
 * slows what it traces), the programs it exec'd (strace -f -e trace=execve), per minute. The
 * server's metrics API scrapes the node's /metrics/resource every 15 s meanwhile, as in a cluster.
 * Each build's node gets the V8 flags of its own checkout's launcher line (bin/hedge.js), so a
 * change of those flags is compared too. `--baseline` may be given more than once (a row each, in
 * that order, then this checkout's; `--this-first` puts this checkout's first, to alternate the
 * order between runs). `--execs-s 0` skips the strace window.
 * Run: node --import tsx bench/density.ts --idle-only [--pods 100] [--idle-s 60] [--settle-s 60] [--execs-s 60] [--baseline /tmp/main]... [--this-first]
 * Why 60 s of settling: what a restart leaves behind runs 30–45 s after it, and is no idle cost —
 * the keep-alive connections the adoption burst opened close idle at ~32 s (~20 ms of TLS
 * teardown), and V8's memory reducer runs its two shrinking full GCs at ~35–41 s (~0.1 s on the
 * main thread and ~0.1 s of concurrent marking with 100 pods, `--trace-gc`). The table still
 * shows the CPU of 30 s → settle after the start beside it (the window this bench measured
 * before), so that residue stays visible.
 * `--node-out FILE` appends what each node wrote during its idle window to FILE (e.g. a baseline
 * whose launcher adds --trace-gc). `--node-prof DIR` writes a V8 CPU profile of each node process (one per start) into DIR (the
 * sampling profiler costs CPU of its own: the idle figures of such a run are not comparable).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../src/api/object.ts';
import { makeBusyboxRootfs } from '../src/agent/runtime/oci/test-support.ts';
import { HttpKubeClient, loadKubeconfig, Resources } from '../src/client/index.ts';
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { edgeNodeSkipReason, type HedgeNode } from '../test/e2e/node-harness.ts';
import { cpuMs, percentile, printTable } from './apiserver-seed.ts';
import { launchAsShipped, launcherNodeFlags, runBuiltAgent } from './lib/built-agent.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '100' },
    'idle-s': { type: 'string' },
    'settle-s': { type: 'string', default: '60' },
    'idle-only': { type: 'boolean', default: false },
    'execs-s': { type: 'string', default: '60' },
    baseline: { type: 'string', multiple: true },
    'this-first': { type: 'boolean', default: false },
    'node-prof': { type: 'string' },
    'node-out': { type: 'string' },
  },
});
const N = Number(values.pods);
const idleOnly = values['idle-only'];
const idleMs = Number(values['idle-s'] ?? (idleOnly ? 60 : 30)) * 1000;
const settleMs = Math.max(30, Number(values['settle-s'])) * 1000;
const execsMs = Number(values['execs-s']) * 1000;
const RUNC = '/usr/sbin/runc';

const skip = edgeNodeSkipReason([RUNC, '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/bin/busybox']);
if (skip) {
  process.stdout.write(`density bench skipped: ${skip}\n`);
  process.exit(0);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // exited meanwhile
  }
}
const mib = (kib: number): string => (kib / 1024).toFixed(1);

/** every descendant pid of `pid` (via /proc/PID/task/*\/children) */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number): void => {
    const read = (f: () => string | string[]): string | string[] => {
      try {
        return f();
      } catch {
        return []; // exited meanwhile
      }
    };
    for (const t of read(() => readdirSync(`/proc/${p}/task`))) {
      const kids = read(() => readFileSync(`/proc/${p}/task/${t}/children`, 'utf8'));
      if (typeof kids !== 'string') continue;
      for (const k of kids.split(' ').filter(Boolean).map(Number)) {
        out.push(k);
        walk(k);
      }
    }
  };
  walk(pid);
  return out;
}

/** utime+stime of `pid` and cutime+cstime (the children it reaped), ms */
function cpuTimes(pid: number): { self: number; children: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // fields 14–17 of proc(5) counted after the command name; clock ticks of 10 ms
  return { self: (Number(f[11]) + Number(f[12])) * 10, children: (Number(f[13]) + Number(f[14])) * 10 };
}

/** user and system CPU ms of the threads of `pid`: the main thread, and the others summed by name (V8's workers, libuv's pool) */
function threadTimes(pid: number): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out; // exited meanwhile
  }
  for (const t of tasks) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    // the main thread is the one whose id is the pid; Node 20 names its other threads `node` too
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const name = t === String(pid) ? 'main' : comm === 'node' ? 'other' : comm;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const e = out.get(name) ?? { user: 0, sys: 0 };
    e.user += Number(f[11]) * 10;
    e.sys += Number(f[12]) * 10;
    out.set(name, e);
  }
  return out;
}

/** the CPU of each thread name over a window, `name user+sys ms`, largest first */
function threadDelta(a: Map<string, { user: number; sys: number }>, b: Map<string, { user: number; sys: number }>): string {
  return [...b]
    .map(([n, v]) => [n, v.user - (a.get(n)?.user ?? 0), v.sys - (a.get(n)?.sys ?? 0)] as const)
    .filter(([, u, s]) => u + s > 0)
    .sort((x, y) => y[1] + y[2] - (x[1] + x[2]))
    .map(([n, u, s]) => `${n} ${u}+${s}`)
    .join(', ');
}

/** programs `pid` and its descendants exec'd over `ms` (strace -f -e trace=execve; failed PATH lookups not counted) */
function execsOf(pid: number, ms: number): Map<string, number> {
  const out = join(mkdtempSync(join(tmpdir(), 'hedge-density-strace-')), 'trace');
  try {
    spawnSync('timeout', ['-s', 'INT', String(ms / 1000), 'strace', '-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', out, '-p', String(pid)], { stdio: 'ignore' });
    const counts = new Map<string, number>();
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      const m = /execve\("([^"]+)"/.exec(line);
      if (!m || /= -1 /.test(line)) continue;
      const prog = m[1]!.slice(m[1]!.lastIndexOf('/') + 1);
      counts.set(prog, (counts.get(prog) ?? 0) + 1);
    }
    return counts;
  } finally {
    rmSync(dirname(out), { recursive: true, force: true });
  }
}

/**
 * `--idle-only`: restarts the node on `checkout`'s bundle (this checkout's when undefined) over the
 * running pods, lets it settle, then its idle CPU and its execs per minute (see the header).
 */
async function idleRow(node: HedgeNode, checkout: string | undefined): Promise<string[]> {
  // the checkout's own launcher flags for the node role (and the profiler's, when asked)
  process.env.HEDGE_E2E_NODE_FLAGS = [launcherNodeFlags(checkout), ...profFlags].join(' ');
  if (checkout) {
    execFileSync(process.execPath, [join(checkout, 'scripts', 'build.mjs')], { cwd: checkout, stdio: 'ignore' });
    process.env.HEDGE_E2E_NODE_BIN = join(checkout, 'dist', 'main.js');
    await node.stop();
    await node.start();
  } else {
    delete process.env.HEDGE_E2E_NODE_BIN;
    await runBuiltAgent(node, false);
  }
  // adoption of every pod, the first status writes and metrics scrapes
  await sleep(30_000);
  const r0 = cpuTimes(node.pid());
  // then what the restart leaves behind (see the header), measured on its own
  await sleep(settleMs - 30_000);
  const c0 = cpuTimes(node.pid());
  const residue = settleMs > 30_000 ? ((100 * (c0.self - r0.self)) / (settleMs - 30_000)).toFixed(2) : '-';
  const t0 = threadTimes(node.pid());
  const outFrom = node.output().length;
  await sleep(idleMs);
  const c1 = cpuTimes(node.pid());
  const byThread = threadDelta(t0, threadTimes(node.pid()));
  if (values['node-out']) appendFileSync(values['node-out'], `=== ${checkout ?? 'this checkout'}, ${idleMs / 1000} s idle\n${node.output().slice(outFrom)}`);
  const rss = rssKiB(node.pid());
  const execs = execsMs > 0 ? execsOf(node.pid(), execsMs) : new Map<string, number>();
  const perMin = (n: number): string => (execsMs > 0 ? ((n * 60_000) / execsMs).toFixed(1) : '-');
  const total = [...execs.values()].reduce((a, b) => a + b, 0);
  const by = [...execs].sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p} ${perMin(n)}`).join(', ') || '-';
  const maxOpt = /--max-opt=\d+/.exec(launcherNodeFlags(checkout))?.[0] ?? 'no --max-opt';
  return [`${checkout ?? 'this checkout'} (${maxOpt})`, ((100 * (c1.self - c0.self)) / idleMs).toFixed(2), residue, ((100 * (c1.children - c0.children)) / idleMs).toFixed(2), mib(rss), perMin(total), by, byThread];
}

const rows: (string | number)[][] = [['what', 'value', 'bare runc (same run)', 'ratio']];
launchAsShipped();
// V8 CPU profiles of every node process (one .cpuprofile per start, written when it stops)
const profFlags = values['node-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['node-prof']}`] : [];
process.env.HEDGE_E2E_NODE_FLAGS = [process.env.HEDGE_E2E_NODE_FLAGS, ...profFlags].join(' ');
const stack = await startEdgeStack({
  nodes: [{ name: `density-${process.pid}`, runtimes: ['runc'] }],
});
const { server, node, busyboxImage } = stack;
const bundleTmp = mkdtempSync(join(tmpdir(), 'hedge-density-'));
const client = new HttpKubeClient(await loadKubeconfig(server.kubeconfig));
const watchStop = new AbortController();
try {
  const build = await runBuiltAgent(node);
  await sleep(3_000); // registration and the first status settle
  const agentIdle0 = rssKiB(node.pid());

  // pods: all created at once; Running seen on a watch
  const created = new Map<string, number>();
  const running = new Map<string, number>();
  const list0 = await client.list(Resources.pods, { namespace: 'default' });
  const watching = (async () => {
    for await (const ev of client.watch<Pod & KubeObject>(Resources.pods, { namespace: 'default', resourceVersion: list0.metadata.resourceVersion, signal: watchStop.signal })) {
      const name = ev.object.metadata?.name ?? '';
      if (ev.type !== 'DELETED' && ev.object.status?.phase === 'Running' && !running.has(name)) running.set(name, performance.now());
    }
  })().catch(() => undefined);
  /**
   * Pod start (create → Running on the watch) of one pod created alone, `n` times one after another
   * (each deleted before the next): on the empty node, then with the N pods running — the issue's
   * "pod start at the 100th pod vs the first", without the burst's own queueing.
   */
  const sleeper = (name: string): KubeObject =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: busyboxImage, command: ['sleep', '3600'] }] },
    }) as KubeObject;
  const probeStarts = async (label: string, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      const name = `probe-${label}-${k}`;
      const tc = performance.now();
      await client.create(Resources.pods, sleeper(name));
      const until = Date.now() + 120_000;
      while (!running.has(name)) {
        if (Date.now() > until) throw new Error(`${name} not Running after 120 s`);
        await sleep(20);
      }
      out.push(running.get(name)! - tc);
      await client.delete(Resources.pods, name, { namespace: 'default', gracePeriodSeconds: 0 });
      while (await client.get(Resources.pods, name, { namespace: 'default' }).then(() => true, () => false)) await sleep(100);
    }
    return out;
  };
  const PROBES = 5;
  const probeEmpty = idleOnly ? [] : await probeStarts('empty', PROBES);

  let rss20 = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      const name = `d-${i}`;
      created.set(name, performance.now());
      await client.create(Resources.pods, sleeper(name));
    }),
  );
  const deadline = Date.now() + 900_000;
  while (running.size < N) {
    if (running.size >= 20 && rss20 === 0) rss20 = rssKiB(node.pid());
    if (Date.now() > deadline) throw new Error(`${running.size}/${N} pods Running after 900 s`);
    await sleep(100);
  }
  const allRunningMs = performance.now() - t0;
  const starts = Array.from({ length: N }, (_, i) => (running.get(`d-${i}`) ?? NaN) - (created.get(`d-${i}`) ?? NaN));
  const first = starts.slice(0, 10);
  const last = starts.slice(-10);

  if (idleOnly) {
    rows.splice(0, rows.length, ['agent build', `agent CPU % of a core, ${N} pods, ${idleMs / 1000} s idle from ${settleMs / 1000} s after its start (target ≤ 1)`, `CPU % 30 → ${settleMs / 1000} s after its start (restart residue)`, 'its reaped children, % of a core', 'agent RSS MiB after', 'execs/min', 'execs/min by program', 'CPU ms by thread (user+sys) over the window']);
    const baselines: (string | undefined)[] = values.baseline ?? [];
    for (const checkout of values['this-first'] ? [undefined, ...baselines] : [...baselines, undefined]) {
      rows.push(await idleRow(node, checkout));
      process.stderr.write(`${rows.at(-1)!.join(' | ')}\n`);
    }
  } else {
    // steady state with N pods: agent CPU and memory
    await sleep(5_000);
    const probeFull = await probeStarts('full', PROBES);
    await sleep(2_000);
    const cpu0 = await cpuMs(node.pid());
    await sleep(idleMs);
    const agentCpuPct = (100 * ((await cpuMs(node.pid())) - cpu0)) / idleMs;
    const agentRssN = rssKiB(node.pid());
    const conmons = (await node.hostState()).conmonPids;
    const conmonKiB = conmons.reduce((s, p) => s + rssKiB(p), 0);
    const podProcsKiB = conmons.flatMap(descendants).reduce((s, p) => s + rssKiB(p), 0);

    // bare runc: the same number of detached busybox sleep containers, one after another
    const bundle = join(bundleTmp, 'bundle');
    makeBusyboxRootfs(join(bundle, 'rootfs'));
    execFileSync(RUNC, ['spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] } };
    spec.process.terminal = false;
    spec.process.args = ['sleep', '3600'];
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const root = join(bundleTmp, 'runc-root');
    const bareIds: string[] = [];
    const tb = performance.now();
    const bareStarts: number[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const id = `density-bare-${process.pid}-${i}`;
        const ts = performance.now();
        execFileSync(RUNC, [`--root=${root}`, 'run', '-d', '--bundle', bundle, id], { stdio: 'ignore' });
        bareStarts.push(performance.now() - ts);
        bareIds.push(id);
      }
      const bareAllMs = performance.now() - tb;
      const barePids = bareIds.map((id) => Number(JSON.parse(execFileSync(RUNC, [`--root=${root}`, 'state', id]).toString()).pid as number));
      const bareKiB = barePids.reduce((s, p) => s + rssKiB(p), 0);

      const p = (xs: number[], q: number): number => percentile([...xs].sort((a, b) => a - b), q);
      rows.push(['time to all Running (ms)', Math.round(allRunningMs), Math.round(bareAllMs), (allRunningMs / bareAllMs).toFixed(2)]);
      rows.push(['start p50, first 10 pods (ms)', Math.round(p(first, 50)), Math.round(p(bareStarts.slice(0, 10), 50)), (p(first, 50) / p(bareStarts.slice(0, 10), 50)).toFixed(2)]);
      rows.push([`start p50, last 10 pods (ms)`, Math.round(p(last, 50)), Math.round(p(bareStarts.slice(-10), 50)), (p(last, 50) / p(bareStarts.slice(-10), 50)).toFixed(2)]);
      rows.push(['burst: last-10 / first-10 start p50 (queueing in the burst)', (p(last, 50) / p(first, 50)).toFixed(2), (p(bareStarts.slice(-10), 50) / p(bareStarts.slice(0, 10), 50)).toFixed(2), '-']);
      const bareFirst = p(bareStarts.slice(0, PROBES), 50);
      const bareLast = p(bareStarts.slice(-PROBES), 50);
      rows.push([`one pod alone on the empty node, start p50 of ${PROBES} (ms)`, Math.round(p(probeEmpty, 50)), Math.round(bareFirst), (p(probeEmpty, 50) / bareFirst).toFixed(2)]);
      rows.push([`one pod alone with ${N} running, start p50 of ${PROBES} (ms)`, Math.round(p(probeFull, 50)), Math.round(bareLast), (p(probeFull, 50) / bareLast).toFixed(2)]);
      rows.push([`pod start at the ${N + 1}th pod / the first (target ≤ 1.5)`, (p(probeFull, 50) / p(probeEmpty, 50)).toFixed(2), (bareLast / bareFirst).toFixed(2), '-']);
      rows.push(['agent RSS MiB: 0 / 20 / ' + N + ' pods (target ≤ 80 at 20, ≤ 120 at 100)', `${mib(agentIdle0)} / ${mib(rss20)} / ${mib(agentRssN)}`, '-', '-']);
      rows.push([`agent CPU % of a core, ${N} pods idle ${idleMs / 1000} s (target ≤ 1)`, agentCpuPct.toFixed(1), '-', '-']);
      rows.push(['conmon RSS per pod (KiB)', Math.round(conmonKiB / Math.max(1, conmons.length)), 0, '-']);
      rows.push(['container processes RSS per pod (KiB)', Math.round(podProcsKiB / Math.max(1, conmons.length)), Math.round(bareKiB / N), '-']);
      rows.push([
        'host memory per pod: conmon + processes + agent growth (KiB)',
        Math.round((conmonKiB + podProcsKiB + (agentRssN - agentIdle0)) / N),
        Math.round(bareKiB / N),
        ((conmonKiB + podProcsKiB + (agentRssN - agentIdle0)) / Math.max(1, bareKiB)).toFixed(1),
      ]);
      process.stderr.write(`agent: ${build}; ${conmons.length} conmon\n`);
    } finally {
      for (const id of bareIds) {
        try {
          execFileSync(RUNC, [`--root=${root}`, 'delete', '--force', id], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
    }
  }

  // delete every pod; then what is left on the host
  const td = performance.now();
  const deleteErrors: string[] = [];
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      client.delete(Resources.pods, `d-${i}`, { namespace: 'default', gracePeriodSeconds: 0 }).catch((err: unknown) => deleteErrors.push(`d-${i}: ${(err as Error).message}`)),
    ),
  );
  const gone = Date.now() + 300_000;
  let st = await node.hostState();
  while ((st.conmonPids.length > 0 || st.netns.length > 0) && Date.now() < gone) {
    await sleep(500);
    st = await node.hostState();
  }
  const left = (await client.list<Pod & KubeObject>(Resources.pods, { namespace: 'default' })).items;
  const leftPods = left.length;
  if (deleteErrors.length > 0 || leftPods > 0 || st.conmonPids.length > 0 || st.netns.length > 0) {
    // what a leak needs to be traced: the refused deletes, the pods still there, the node's warnings
    process.stderr.write(`delete errors: ${deleteErrors.join('; ') || 'none'}\n`);
    for (const p of left) process.stderr.write(`left: ${p.metadata.name} uid=${p.metadata.uid} phase=${p.status?.phase} deleting=${p.metadata.deletionTimestamp ?? '-'}\n`);
    process.stderr.write(`left netns: ${st.netns.join(' ')}\nnode output (tail):\n${node.output().slice(-6000)}\n`);
  }
  rows.push(['delete all → host clean (ms)', Math.round(performance.now() - td), '-', '-']);
  rows.push(['left after delete: pods / conmon / netns / pod cgroups / bridge ports', `${leftPods} / ${st.conmonPids.length} / ${st.netns.length} / ${st.podCgroups.length} / ${st.bridgePorts.length}`, '-', '-']);
  watchStop.abort();
  await watching;
} finally {
  watchStop.abort();
  await client.close();
  await stack.close();
  rmSync(bundleTmp, { recursive: true, force: true });
}
// the idle-only table has a column more than the rows about deletion
for (const r of rows) while (r.length < rows[0]!.length) r.push('-');
printTable(`density: ${N} runc pods (busybox sleep) created at once on one node, vs ${N} bare \`runc run -d\` (load avg ${loadavg().map((l) => l.toFixed(1)).join(' ')})`, rows);
