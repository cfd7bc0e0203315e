/**
 * Cost of one `/stats/summary` and one `/metrics/cadvisor` scrape by pod count: CPU ms of this
 * process per scrape (median of the runs) and response bytes per pod. The collector and renderers
 * are the node's; the runtime is the fake with its stats read from real files (this host's cgroup
 * v1 root via the cgroup-v1 readers, /proc/self/net/dev for each pod's network), so the file I/O
 * per container is what a runc node pays. No kubelet runs here to compare against. Asserts nothing.
 * Run: node --import tsx bench/stats-scrape.ts [runs=20]
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../src/lib/log.ts';
import { FakeRuntime } from '../src/agent/runtime/testing/fake-runtime.ts';
import type { ContainerConfig, ContainerId, ContainerStats, SandboxConfig, SandboxId, SandboxStats } from '../src/agent/runtime/types.ts';
import { readCgroupStats } from '../src/agent/stats/cgroup-v1.ts';
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
