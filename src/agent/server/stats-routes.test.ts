import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { FakeRuntime } from '../runtime/testing/fake-runtime.ts';
import type { ContainerConfig, ContainerId, ContainerStats, SandboxConfig, SandboxId, SandboxStats } from '../runtime/types.ts';
import { StatsCollector } from '../stats/collector.ts';
import type { Summary } from '../stats/summary.ts';
import { startNodeServer, type NodeServer } from './node-server.ts';
import { statsRoutes } from './stats-routes.ts';
import type { PodSource } from './types.ts';

const TOKEN = 'stats-token';

/** the fake plus what the real handlers add: block IO per container, the pod's network */
class FakeWithIo extends FakeRuntime {
  override async stats(id: ContainerId): Promise<ContainerStats> {
    const s = await super.stats(id);
    return {
      ...s,
      cpu: { ...s.cpu, throttling: { periods: 50, throttledPeriods: 5, throttledNanoSeconds: 250_000_000 } },
      memory: { ...s.memory, pageFaults: 7, majorPageFaults: 1, oomKills: 2 },
      blkio: { readBytes: 4096, writeBytes: 8192, readOps: 1, writeOps: 2 },
      processes: 3,
    };
  }
  override async sandboxStats(id: SandboxId): Promise<SandboxStats> {
    const s = await super.sandboxStats(id);
    return { ...s, network: { interfaces: [{ name: 'eth0', rxBytes: 1000, txBytes: 2000, rxErrors: 0, txErrors: 1 }] } };
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition: `name{a="b",...} value` lines */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    assert.ok(m, `bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const sandboxCfg = (id: string, name: string, uid: string, dir: string): SandboxConfig => ({
  id: id as SandboxId, pod: { uid, namespace: 'team', name }, hostname: name, shareIpc: false, cgroupParent: '', resources: {},
  hostsFile: '', resolvConf: '', stateDir: dir, labels: {}, annotations: {},
});
const containerCfg = (id: string, sandboxId: string, name: string, image: string, dir: string): ContainerConfig => ({
  id: id as ContainerId, sandboxId: sandboxId as SandboxId, name, image: { ref: image, digest: '' }, rootfs: [], command: [], env: [],
  workingDir: '/', user: { uid: 0, gid: 0, additionalGids: [] }, mounts: [], resources: {},
  security: { privileged: false, readOnlyRootFilesystem: false, capabilitiesAdd: [], capabilitiesDrop: [], noNewPrivileges: false },
  tty: false, logPath: join(dir, `${name}.log`), labels: {}, annotations: {},
});

describe('node server stats routes', () => {
  let dir: string;
  let srv: NodeServer;
  let t = Date.parse('2026-12-03T08:00:00Z');
  const now = (): number => t;
  const runtime = new FakeWithIo({ now });
  const web: Pod = {
    metadata: { name: 'web', namespace: 'team', uid: 'uid-web' },
    spec: { containers: [{ name: 'app', image: 'nginx:1' }, { name: 'burn', image: 'busybox:1' }] },
    status: { startTime: '2026-12-03T07:59:00Z' },
  };
  const pending: Pod = { metadata: { name: 'pending', namespace: 'team', uid: 'uid-p' }, spec: { containers: [{ name: 'x', image: 'busybox:1' }] } };
  const ids: Record<string, ContainerId> = { app: 'cid-app' as ContainerId, burn: 'cid-burn' as ContainerId };
  const base = (): string => `http://127.0.0.1:${srv.port}`;
  const get = async (path: string, auth = true): Promise<Response> => fetch(`${base()}${path}`, { headers: auth ? { Authorization: `Bearer ${TOKEN}` } : {} });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-stats-'));
    // the node's root cgroup and /proc as fixtures
    await mkdir(join(dir, 'cg', 'cpuacct'), { recursive: true });
    await mkdir(join(dir, 'cg', 'memory'), { recursive: true });
    await mkdir(join(dir, 'proc', 'self', 'net'), { recursive: true });
    await writeFile(join(dir, 'cg', 'cpuacct', 'cpuacct.usage'), '1000000000\n');
    await writeFile(join(dir, 'cg', 'memory', 'memory.usage_in_bytes'), '500000000\n');
    await writeFile(join(dir, 'cg', 'memory', 'memory.stat'), 'total_rss 300000000\ntotal_inactive_file 100000000\ntotal_pgfault 50\ntotal_pgmajfault 2\n');
    await writeFile(
      join(dir, 'proc', 'self', 'net', 'dev'),
      [
        'Inter-|   Receive                                                |  Transmit',
        ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
        '    lo:  999 9 0 0 0 0 0 0  999 9 0 0 0 0 0 0',
        '  eth0: 123456 100 3 0 0 0 0 0 654321 90 4 0 0 0 0 0',
        '',
      ].join('\n'),
    );
    await runtime.createSandbox(sandboxCfg('sb-web', 'web', 'uid-web', dir));
    runtime.behaviors.set('burn', { kind: 'run', busy: true });
    for (const c of web.spec?.containers ?? []) {
      await runtime.createContainer(containerCfg(ids[c.name], 'sb-web', c.name, c.image ?? '', dir));
      await runtime.start(ids[c.name]);
    }
    const pods: PodSource = {
      pods: () => [web, pending],
      locate: (ns, name, container) => {
        if (ns !== 'team') return undefined;
        if (name === 'pending') return { pod: pending, logDir: dir, restartCount: 0 };
        if (name === 'web' && container && ids[container]) return { pod: web, handler: runtime, id: ids[container], logDir: dir, restartCount: 0 };
        return undefined;
      },
    };
    const collector = new StatsCollector({
      nodeName: 'edge-1',
      pods,
      logger: silentLogger(),
      nodeCgroup: { root: join(dir, 'cg'), path: '/' },
      procRoot: join(dir, 'proc'),
      fsPath: dir,
      now: () => new Date(t),
    });
    srv = await startNodeServer({
      host: '127.0.0.1',
      port: 0,
      auth: { tokens: new Set([TOKEN]), clientCerts: false, authorization: 'AlwaysAllow' },
      pods,
      logger: silentLogger(),
      routes: statsRoutes(collector),
    });
  });
  after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('needs the same authentication as the other routes', async () => {
    assert.equal((await get('/stats/summary', false)).status, 401);
    assert.equal((await get('/metrics/cadvisor', false)).status, 401);
  });

  it('serves the kubelet Summary shape; usageNanoCores from two samples', async () => {
    const first = (await (await get('/stats/summary')).json()) as Summary;
    assert.equal(first.node.nodeName, 'edge-1');
    assert.equal(first.node.cpu?.usageCoreNanoSeconds, 1e9);
    assert.equal(first.node.cpu?.usageNanoCores, undefined, 'one sample has no rate');
    assert.deepEqual(
      { ...first.node.memory, time: undefined, availableBytes: undefined },
      { time: undefined, availableBytes: undefined, usageBytes: 500000000, workingSetBytes: 400000000, rssBytes: 300000000, pageFaults: 50, majorPageFaults: 2 },
    );
    assert.deepEqual(first.node.network?.interfaces, [{ name: 'eth0', rxBytes: 123456, rxErrors: 3, txBytes: 654321, txErrors: 4 }]);
    assert.equal(first.node.network?.rxBytes, 123456);
    assert.ok((first.node.fs?.capacityBytes ?? 0) > 0 && (first.node.fs?.availableBytes ?? 0) <= (first.node.fs?.capacityBytes ?? 0));
    assert.equal(first.pods.length, 1, 'a pod with nothing running is left out');

    t += 2000;
    await writeFile(join(dir, 'cg', 'cpuacct', 'cpuacct.usage'), '2000000000\n');
    const res = await get('/stats/summary');
    assert.equal(res.headers.get('content-type'), 'application/json');
    const s = (await res.json()) as Summary;
    assert.equal(s.node.cpu?.usageNanoCores, 5e8, '1 s of CPU over 2 s');
    const [pod] = s.pods;
    assert.deepEqual(pod.podRef, { name: 'web', namespace: 'team', uid: 'uid-web' });
    assert.equal(pod.startTime, '2026-12-03T07:59:00.000Z');
    assert.deepEqual(pod.containers.map((c) => c.name), ['app', 'burn']);
    const burn = pod.containers[1];
    assert.equal(burn.startTime, '2026-12-03T08:00:00.000Z');
    assert.equal(burn.cpu.usageNanoCores, 1e9, 'a busy container uses one core');
    assert.equal(burn.cpu.usageCoreNanoSeconds, 2e9);
    assert.equal(burn.cpu.time, new Date(t).toISOString());
    assert.deepEqual(burn.memory, { time: new Date(t).toISOString(), usageBytes: 1 << 20, workingSetBytes: 1 << 20, rssBytes: 1 << 20, pageFaults: 7, majorPageFaults: 1 });
    assert.equal(pod.containers[0].cpu.usageNanoCores, 0, 'an idle container');
    assert.equal(pod.memory?.workingSetBytes, 2 << 20, 'the pod is the sum of its containers');
    assert.equal(pod.network?.name, 'eth0');
    assert.equal(pod.network?.rxBytes, 1000);
    assert.deepEqual(pod.network?.interfaces, [{ name: 'eth0', rxBytes: 1000, rxErrors: 0, txBytes: 2000, txErrors: 1 }]);

    // a scrape right after another keeps the rate of the last full window, not a noisy one
    const again = (await (await get('/stats/summary')).json()) as Summary;
    assert.equal(again.pods[0].containers[1].cpu.usageNanoCores, 1e9);
  });

  it('serves /metrics/resource in the kubelet text format metrics-server reads', async () => {
    const res = await get('/metrics/resource');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const ts = String(t);
    const lines = text.split('\n');
    // families sorted by name, HELP then TYPE, every figure stamped with the time it was read
    assert.deepEqual(
      lines.filter((l) => l.startsWith('# TYPE')),
      [
        '# TYPE container_cpu_usage_seconds_total counter',
        '# TYPE container_memory_working_set_bytes gauge',
        '# TYPE container_start_time_seconds gauge',
        '# TYPE node_cpu_usage_seconds_total counter',
        '# TYPE node_memory_working_set_bytes gauge',
        '# TYPE pod_cpu_usage_seconds_total counter',
        '# TYPE pod_memory_working_set_bytes gauge',
        '# TYPE resource_scrape_error gauge',
        '# TYPE scrape_error gauge',
      ],
    );
    assert.ok(lines.includes('# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds'));
    const burnCpu = (t - Date.parse('2026-12-03T08:00:00Z')) / 1000;
    assert.ok(lines.includes(`container_cpu_usage_seconds_total{container="burn",namespace="team",pod="web"} ${burnCpu} ${ts}`), text);
    assert.ok(lines.includes(`container_memory_working_set_bytes{container="burn",namespace="team",pod="web"} 1.048576e+06 ${ts}`), text);
    assert.ok(lines.includes(`node_cpu_usage_seconds_total 2 ${ts}`), text);
    assert.ok(lines.includes(`node_memory_working_set_bytes 4e+08 ${ts}`), text);
    assert.ok(lines.includes(`pod_memory_working_set_bytes{namespace="team",pod="web"} 2.097152e+06 ${ts}`), text);
    assert.ok(lines.includes('scrape_error 0'));
    assert.ok(lines.includes('resource_scrape_error 0'));
    assert.equal(text.includes('pending'), false);
  });

  it('serves the process metrics of the node itself at /metrics', async () => {
    const res = await get('/metrics');
    assert.equal(res.status, 200);
    const samples = parseExposition(await res.text());
    assert.ok((samples.find((s) => s.name === 'process_resident_memory_bytes')?.value ?? 0) > 1 << 20);
    assert.ok(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes'));
    assert.equal((await get('/metrics', false)).status, 401);
  });

  it('serves cAdvisor metric names and labels; series go away with their container', async () => {
    const res = await get('/metrics/cadvisor');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await res.text());
    const find = (name: string, labels: Record<string, string>): Sample | undefined =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    const burn = { namespace: 'team', pod: 'web', container: 'burn', id: '/poduid-web/cid-burn', image: 'busybox:1', name: 'cid-burn' };
    assert.equal(find('container_cpu_usage_seconds_total', { ...burn, cpu: 'total' })?.value, t / 1000 - Date.parse('2026-12-03T08:00:00Z') / 1000);
    assert.equal(find('container_memory_working_set_bytes', burn)?.value, 1 << 20);
    assert.equal(find('container_memory_rss', burn)?.value, 1 << 20);
    assert.equal(find('container_fs_reads_bytes_total', burn)?.value, 4096);
    assert.equal(find('container_fs_writes_bytes_total', burn)?.value, 8192);
    assert.equal(find('container_fs_writes_total', burn)?.value, 2);
    assert.equal(find('container_start_time_seconds', burn)?.value, Date.parse('2026-12-03T08:00:00Z') / 1000);
    assert.equal(find('container_cpu_cfs_periods_total', burn)?.value, 50);
    assert.equal(find('container_cpu_cfs_throttled_periods_total', burn)?.value, 5);
    assert.equal(find('container_cpu_cfs_throttled_seconds_total', burn)?.value, 0.25);
    assert.equal(find('container_oom_events_total', burn)?.value, 2);
    assert.equal(find('container_processes', burn)?.value, 3);
    const pod = { namespace: 'team', pod: 'web', container: '', id: '/poduid-web', name: 'sb-web', interface: 'eth0' };
    assert.equal(find('container_network_receive_bytes_total', pod)?.value, 1000);
    assert.equal(find('container_network_transmit_bytes_total', pod)?.value, 2000);
    assert.equal(find('container_network_transmit_errors_total', pod)?.value, 1);
    assert.equal(
      samples.filter((s) => s.name.startsWith('container_network_') && s.labels.container !== '').length,
      0,
      'network is per pod: containers share its netns',
    );
    assert.equal(find('container_network_receive_bytes_total', { id: '/', interface: 'eth0' })?.value, 123456, 'the machine as the root container');
    assert.equal(samples.some((s) => s.labels.pod === 'pending'), false);

    await runtime.stop(ids.burn, { timeoutSeconds: 0 });
    const after = parseExposition(await (await get('/metrics/cadvisor')).text());
    assert.equal(after.some((s) => s.labels.container === 'burn'), false, 'an exited container has no series');
    assert.ok(after.some((s) => s.labels.container === 'app'));
  });
});
