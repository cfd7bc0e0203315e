/**
 * Cost of one `/stats/summary` and one `/metrics/cadvisor` scrape by pod count: CPU ms of this
 * process per scrape (median of the runs) and response bytes per pod. The collector and renderers
 * are the node's; the runtime is the fake with its stats read from real files (this host's cgroup
 * v1 root via the cgroup-v1 readers, /proc/self/net/dev for each pod's network), so the file I/O
 * per container is what a runc node pays. No kubelet runs here to compare against. Asserts nothing.
 * Run: node --import tsx bench/stats-scrape.ts [runs=20]
 *
 * `real` mode (node --import tsx bench/stats-scrape.ts 20 real [pods=10,30]): a real `hedge node`
 * with runc pods (busybox sleeping), scraped through the apiserver's nodes/proxy; CPU is the node
 * process's own (/proc/<pid>/stat) per scrape minus its idle rate over the same wall time, bytes
 * are the response's. Needs root.
 */
import { readFileSync } from 'node:fs';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { waitUntil } from '../test/e2e/pod-checks.ts';
import { silentLogger } from '../src/lib/log.ts';
import { FakeRuntime } from '../src/agent/runtime/testing/fake-runtime.ts';
import type { ContainerConfig, ContainerId, ContainerStats, SandboxConfig, SandboxId, SandboxStats } from '../src/agent/runtime/types.ts';
import { readCgroupStats } from '../src/agent/stats/cgroup.ts';
import { readNetDev } from '../src/agent/stats/net-dev.ts';
import { StatsCollector, type StatsPodSource } from '../src/agent/stats/collector.ts';
import { toSummary } from '../src/agent/stats/summary.ts';
import { renderCadvisorMetrics } from '../src/agent/stats/cadvisor-metrics.ts';

const runs = Number(process.argv[2] ?? 20);
const CG = { root: '/sys/fs/cgroup', path: '/' };

class FileBackedRuntime extends FakeRuntime {
  override async stats(id: ContainerId): Promise<ContainerStats> {
    const s = await readCgroupStats(CG);
    return s ?? super.stats(id);
  }
  override async sandboxStats(id: SandboxId): Promise<SandboxStats> {
    const [s, net] = await Promise.all([readCgroupStats(CG), readNetDev('/proc', process.pid)]);
    const base = s ?? (await super.sandboxStats(id));
    return net ? { ...base, network: net } : base;
  }
}

async function setup(podCount: number): Promise<StatsPodSource> {
  const rt = new FileBackedRuntime();
  const pods: Pod[] = [];
  const ids = new Map<string, ContainerId>();
  for (let i = 0; i < podCount; i++) {
    const name = `pod-${i}`;
    const sb = `sb-${i}` as SandboxId;
    const cfg: SandboxConfig = { id: sb, pod: { uid: `uid-${i}`, namespace: 'bench', name }, hostname: name, shareIpc: false, cgroupParent: '', resources: {}, hostsFile: '', resolvConf: '', stateDir: '/tmp', labels: {}, annotations: {} };
    await rt.createSandbox(cfg);
    const containers = ['app', 'sidecar'];
    for (const c of containers) {
      const id = `c-${i}-${c}` as ContainerId;
      const cc: ContainerConfig = {
        id, sandboxId: sb, name: c, image: { ref: 'busybox:1', digest: '' }, rootfs: [], command: [], env: [], workingDir: '/',
        user: { uid: 0, gid: 0, additionalGids: [] }, mounts: [], resources: {},
        security: { privileged: false, readOnlyRootFilesystem: false, capabilitiesAdd: [], capabilitiesDrop: [], noNewPrivileges: false },
        tty: false, logPath: '/dev/null', labels: {}, annotations: {},
      };
      await rt.createContainer(cc);
      await rt.start(id);
      ids.set(`${name}/${c}`, id);
    }
    pods.push({ metadata: { name, namespace: 'bench', uid: `uid-${i}` }, spec: { containers: containers.map((c) => ({ name: c, image: 'busybox:1' })) }, status: { startTime: new Date().toISOString() } });
  }
  return {
    pods: () => pods,
    locate: (_ns, name, container) => {
      const id = ids.get(`${name}/${container ?? ''}`);
      return id ? { handler: rt, id } : undefined;
    },
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(scrape: () => Promise<number>): Promise<{ cpuMs: number; wallMs: number; bytes: number }> {
  const cpu: number[] = [];
  const wall: number[] = [];
  let bytes = 0;
  await scrape(); // warm-up (module code, first rate sample)
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    bytes = await scrape();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { cpuMs: median(cpu), wallMs: median(wall), bytes };
}

if (process.argv[3] === 'real') {
  await realNode((process.argv[4] ?? '10,30').split(',').map(Number));
  process.exit(0);
}

/** the node process's CPU time, ms (utime + stime at 100 ticks/s) */
function procCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function realNode(counts: number[]): Promise<void> {
  const stack = await startEdgeStack({ nodes: [{ name: `scrape-${process.pid}`, runtimes: ['runc'] }] });
  const out: string[] = [];
  try {
    const s = stack;
    const node = s.node.nodeName;
    let have = 0;
    for (const n of counts) {
      for (; have < n; have++) {
        const r = await s.server.kubectl(['apply', '-f', '-'], {
          input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `sc-${have}` }, spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: s.busyboxImage, command: ['sleep', '3600'] }] } }),
        });
        if (r.code !== 0) throw new Error(r.stderr);
      }
      await waitUntil(`${n} pods running`, 300_000, async () => {
        const r = await s.server.api('GET', '/api/v1/namespaces/default/pods');
        const items = (r.body as { items: Pod[] }).items;
        return items.filter((p) => p.status?.phase === 'Running').length >= n ? true : undefined;
      }, s.explain);
      for (const route of ['/stats/summary', '/metrics/cadvisor']) {
        const path = `/api/v1/nodes/${node}/proxy${route}`;
        await s.server.api('GET', path);
        const pid = s.node.pid();
        // idle rate: the node's background work (lease, pod sync) over a quiet window
        const i0 = procCpuMs(pid);
        const it0 = performance.now();
        await new Promise((r) => setTimeout(r, 5000));
        const idlePerMs = (procCpuMs(pid) - i0) / (performance.now() - it0);
        const c0 = procCpuMs(pid);
        const t0 = performance.now();
        let bytes = 0;
        for (let i = 0; i < runs; i++) {
          const r = await s.server.api('GET', path);
          bytes = Buffer.byteLength(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
        }
        const wall = performance.now() - t0;
        const cpuPerScrape = Math.max(0, procCpuMs(pid) - c0 - idlePerMs * wall) / runs;
        out.push(`| ${route} | ${n} | ${cpuPerScrape.toFixed(2)} | ${(cpuPerScrape / n).toFixed(3)} | ${(wall / runs).toFixed(1)} | ${bytes} | ${Math.round(bytes / n)} |`);
      }
    }
  } finally {
    await stack.close();
  }
  console.log(`stats scrape cost on a real runc node through nodes/proxy (1 container per pod, ${runs} scrapes; CPU = the hedge node process, 10 ms ticks, idle rate subtracted)\n`);
  console.log('| route | pods | node CPU ms/scrape | CPU ms/pod | wall ms (via apiserver) | bytes | bytes/pod |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of out) console.log(r);
}

const rows: string[] = [];
for (const podCount of [1, 10, 50, 100]) {
  const collector = new StatsCollector({ nodeName: 'bench', pods: await setup(podCount), logger: silentLogger(), fsPath: '/' });
  const signal = new AbortController().signal;
  const summary = await measure(async () => Buffer.byteLength(JSON.stringify(toSummary(await collector.sample(signal)))));
  const cadvisor = await measure(async () => Buffer.byteLength((await renderCadvisorMetrics(await collector.sample(signal))).body));
  for (const [route, m] of [['/stats/summary', summary], ['/metrics/cadvisor', cadvisor]] as const) {
    rows.push(`| ${route} | ${podCount} | ${m.cpuMs.toFixed(2)} | ${(m.cpuMs / podCount).toFixed(3)} | ${m.wallMs.toFixed(2)} | ${m.bytes} | ${Math.round(m.bytes / podCount)} |`);
  }
}
console.log(`stats scrape cost (2 containers per pod, median of ${runs} scrapes; CPU = this process, user+sys)\n`);
console.log('| route | pods | CPU ms/scrape | CPU ms/pod | wall ms | bytes | bytes/pod |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
