/**
 * The node's service proxy (src/agent/network/proxy): what a ClusterIP costs on TCP_RR against
 * the pod IP itself, and how long a sync of a large cluster takes.
 *
 * 1. Two pods on a bridge in a node network namespace this run creates (bench/lib/netns-rr.ts
 *    bridgeNode: no other tenant's rules on the path); pod A does 1-byte request/response
 *    (netbench) over one connection to pod B by its IP and through a ClusterIP programmed by the
 *    proxy's real ruleset beside the NetworkPolicy table as a node without policies loads it, with
 *    the node's pod guard without (before) and with (after) its pod →
 *    pod fast path (guard/fast-path.ts, fed the proxy's endpoints as the node feeds it),
 *    interleaved so load drift hits all alike. Rate and the client's CPU per round trip (the
 *    robust figure on a loaded machine). "ClusterIP added" is against the pod IP with the same
 *    rules: after, the pod IP takes the fast path, the ClusterIP the bridge and conntrack.
 * 2. 1,000 Services × 10 endpoints: model + render time, and `nft -f -` apply time of the full
 *    table (first sync) and of an in-place resync after one endpoint changed; applied inside a
 *    network namespace this run creates.
 *
 * With `--base DIR` (another source tree, e.g. an unpacked `git archive main` with node_modules
 * linked) part 1 is an A/B instead: that tree's pod guard and this one's, both with the fast path,
 * pod IP and ClusterIP each, interleaved in one run, each with its own tree's policy table and
 * proxy ruleset;
 * part 2 is skipped.
 *
 * With `--socket-lb` part 1 compares the node's two ClusterIP paths instead (guard fast path on,
 * as a node runs): the nftables DNAT (the client outside the balancer's cgroup: gVisor, microVM,
 * host traffic, or a node without BPF) and the socket-level balancer (socket-lb.ts, attached to a
 * cgroup2 directory this run creates, the client inside it as a runc pod is), each against the pod
 * IP (client inside the cgroup too), TCP_RR and UDP_RR, interleaved; part 2 is skipped.
 *
 * Prints markdown tables of medians; asserts nothing.
 *
 *   node --import tsx bench/service-proxy.ts [--runs 5] [--rr 20000] [--syncs 5] [--services 1000] [--endpoints 10] [--base DIR | --socket-lb]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createNetns, removeNetns } from '../src/agent/network/netns.ts';
import { runChecked, runCommand } from '../src/agent/host/run-command.ts';
import { randomSuffix } from '../src/agent/network/test-helpers.ts';
import { buildModel, type EndpointSliceObject, type ServiceObject } from '../src/agent/network/proxy/model.ts';
import { renderDelete, renderRuleset } from '../src/agent/network/proxy/render.ts';
import { POLICY_TABLE, policyDeleteScript, renderPolicyTable } from '../src/agent/network/policy/render.ts';
import { slowEndpointsOf } from '../src/agent/network/proxy/proxy.ts';
import { PodGuard } from '../src/agent/network/guard/pod-guard.ts';
import { bridgeNode, cleanupList, median, nsenter, startServer, stop } from './lib/netns-rr.ts';
import { buildNetbench, NETBENCH_PORT } from './lib/runtime-net.ts';
import { percentile } from './apiserver-seed.ts';
import { cgroup2Mount, SocketBalancer } from '../src/agent/network/proxy/socket-lb.ts';
import { silentLogger } from '../src/lib/log.ts';
import { mkdir, rmdir } from 'node:fs/promises';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    rr: { type: 'string', default: '20000' },
    syncs: { type: 'string', default: '5' },
    services: { type: 'string', default: '1000' },
    endpoints: { type: 'string', default: '10' },
    base: { type: 'string' },
    'socket-lb': { type: 'boolean', default: false },
  },
});
const RUNS = Number(argv.runs);
const RR_COUNT = Number(argv.rr);
const SYNCS = Number(argv.syncs);
const SERVICES = Number(argv.services);
const ENDPOINTS = Number(argv.endpoints);
const cleanups = cleanupList();

async function nftApply(script: string, netns?: string): Promise<void> {
  const res = netns ? await runCommand('nsenter', nsenter(netns, ['nft', '-f', '-']), { input: script }) : await runCommand('nft', ['-f', '-'], { input: script });
  if (res.code !== 0) throw new Error(`nft -f - failed: ${res.stderr.slice(0, 500)}`);
}

/** `n` Services with `e` ready endpoints each, as the informers would hand them over. */
function syntheticCluster(n: number, e: number, changed = -1): { services: ServiceObject[]; slices: EndpointSliceObject[] } {
  const services: ServiceObject[] = [];
  const slices: EndpointSliceObject[] = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    services.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bench' }, spec: { clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } } as ServiceObject);
    slices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: e }, (_, j) => ({
        addresses: [`10.${100 + Math.floor(i / 250)}.${i % 250}.${j + 1 + (i === changed && j === 0 ? 100 : 0)}`],
        conditions: { ready: true },
        nodeName: `node-${j % 3}`,
      })),
    } as EndpointSliceObject);
  }
  return { services, slices };
}

async function syncBench(run: string, netnsDir: string): Promise<string[]> {
  const ns = `${netnsDir}/sync`;
  await createNetns(ns);
  cleanups.push(() => removeNetns(ns));
  const table = `hp-bench-${run}`;
  const base = syntheticCluster(SERVICES, ENDPOINTS);
  const changed = syntheticCluster(SERVICES, ENDPOINTS, Math.floor(SERVICES / 2));
  const model: number[] = [];
  const render: number[] = [];
  const first: number[] = [];
  const resync: number[] = [];
  let bytes = 0;
  for (let i = 0; i < SYNCS; i++) {
    const t0 = performance.now();
    const m = buildModel(base.services, base.slices, { nodeName: 'node-0' });
    const t1 = performance.now();
    const r = renderRuleset(m, { table });
    const t2 = performance.now();
    model.push(t1 - t0);
    render.push(t2 - t1);
    bytes = r.script.length;
    await nftApply(r.script, ns);
    first.push(performance.now() - t2);
    const m2 = buildModel(changed.services, changed.slices, { nodeName: 'node-0' });
    const r2 = renderRuleset(m2, { table }, r.names);
    const t3 = performance.now();
    await nftApply(r2.script, ns);
    resync.push(performance.now() - t3);
    await nftApply(renderDelete(table), ns);
  }
  return [
    `\n${SERVICES} Services × ${ENDPOINTS} endpoints (${SERVICES * (ENDPOINTS + 1) + 6} chains, ${(bytes / 1024).toFixed(0)} KiB of nft script), ${SYNCS} syncs (medians)\n`,
    '| step | ms |',
    '| --- | ---: |',
    `| model (Services + EndpointSlices → ports) | ${median(model).toFixed(1)} |`,
    `| render (nft script) | ${median(render).toFixed(1)} |`,
    `| nft -f apply, first sync (table created) | ${median(first).toFixed(0)} |`,
    `| nft -f apply, resync after one endpoint changed (difference only) | ${median(resync).toFixed(0)} |`,
    `| total first sync | ${(median(model) + median(render) + median(first)).toFixed(0)} |`,
  ];
}

async function rrBench(dataDir: string, netnsDir: string): Promise<string[]> {
  const topo = await bridgeNode({ nsDir: `${netnsDir}/rr`, pods: 2, cleanups });
  const [a, b] = [topo.pods[0]!, topo.pods[1]!];
  const inNode = (cmd: string[]): Promise<unknown> => runChecked('nsenter', nsenter(topo.node, cmd));
  // what the proxy needs for bridged replies of pod → ClusterIP → pod (README), as kube-proxy does
  await inNode(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']);
  const table = 'hedge-proxy';
  const clusterIP = '10.96.7.7';
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'rr', namespace: 'bench' }, spec: { clusterIP, ports: [{ name: 'rr', port: 80, protocol: 'TCP' }] } } as ServiceObject;
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'rr-x', namespace: 'bench', labels: { 'kubernetes.io/service-name': 'rr' } },
    addressType: 'IPv4',
    ports: [{ name: 'rr', port: NETBENCH_PORT, protocol: 'TCP' }],
    endpoints: [{ addresses: [b.ip], conditions: { ready: true } }],
  } as EndpointSliceObject;
  const model = buildModel([svc], [slice], { nodeName: 'bench' });
  type Tables = { renderRuleset: typeof renderRuleset; renderPolicyTable: typeof renderPolicyTable };
  const baseTables: Tables | undefined = argv.base
    ? {
        ...((await import(`${resolve(argv.base)}/src/agent/network/proxy/render.ts`)) as Pick<Tables, 'renderRuleset'>),
        ...((await import(`${resolve(argv.base)}/src/agent/network/policy/render.ts`)) as Pick<Tables, 'renderPolicyTable'>),
      }
    : undefined;
  // the node's tables as a tree renders them: the proxy's, and the policy table with no policies
  // (a node's policy controller loads it whether or not any policy exists)
  const tables = (t: Tables): string =>
    `${renderDelete(table)}${t.renderRuleset(model, { table }).script}${policyDeleteScript(POLICY_TABLE)}${t.renderPolicyTable({ policies: [], pods: [], namespaces: {} }, POLICY_TABLE)}`;
  const ruleset = { this: tables({ renderRuleset, renderPolicyTable }), base: baseTables && tables(baseTables) };
  type Guard = Pick<PodGuard, 'ensure' | 'allow' | 'setSlowEndpoints' | 'destroy'>;
  const BaseGuard = argv.base ? ((await import(`${resolve(argv.base)}/src/agent/network/guard/pod-guard.ts`)) as { PodGuard: typeof PodGuard }).PodGuard : undefined;
  const after = new PodGuard({ bridge: 'br0', netnsPath: topo.node });
  const guards: { before: Guard; after: Guard; base: Guard | undefined } = {
    before: new PodGuard({ bridge: 'br0', netnsPath: topo.node, fastPath: false }),
    after,
    base: BaseGuard && new BaseGuard({ bridge: 'br0', netnsPath: topo.node, fastPath: true }),
  };
  cleanups.push(() => after.destroy());
  const guard = async (g: Guard): Promise<void> => {
    await g.ensure([10250]);
    for (const p of topo.pods) await g.allow({ hostInterface: p.hostInterface, addresses: [{ address: p.ip, family: 4 }] });
    await g.setSlowEndpoints(slowEndpointsOf(model));
  };
  const binary = buildNetbench(dataDir);
  const server = await startServer(b.netnsPath, [binary, 'serve', String(NETBENCH_PORT)]);
  cleanups.push(() => stop(server));
  const rr = async (target: string, port: number): Promise<{ rate: number; cpu: number }> => {
    const out = await runChecked('nsenter', nsenter(a.netnsPath, [binary, 'rr', target, String(port), String(RR_COUNT)]), { timeoutMs: 300_000 });
    const j = JSON.parse(out.stdout) as { tcp_rr: number; tcp_rr_cpu_us: number };
    return { rate: j.tcp_rr, cpu: j.tcp_rr_cpu_us };
  };
  // pairs: a pod IP row, then its ClusterIP row with the same guard
  const rows = (
    guards.base
      ? [
          { label: `base (${argv.base}) · pod → pod IP`, guard: guards.base, target: b.ip, port: NETBENCH_PORT },
          { label: `base (${argv.base}) · pod → ClusterIP`, guard: guards.base, target: clusterIP, port: 80 },
          { label: 'this tree · pod → pod IP', guard: guards.after, target: b.ip, port: NETBENCH_PORT },
          { label: 'this tree · pod → ClusterIP', guard: guards.after, target: clusterIP, port: 80 },
        ]
      : [
          { label: 'before (no fast path) · pod → pod IP', guard: guards.before, target: b.ip, port: NETBENCH_PORT },
          { label: 'before (no fast path) · pod → ClusterIP', guard: guards.before, target: clusterIP, port: 80 },
          { label: 'after (fast path) · pod → pod IP', guard: guards.after, target: b.ip, port: NETBENCH_PORT },
          { label: 'after (fast path) · pod → ClusterIP', guard: guards.after, target: clusterIP, port: 80 },
        ]
  ).map((r) => ({ ...r, rate: [] as number[], cpu: [] as number[] }));
  cleanups.push(() => nftApply(`${renderDelete(table)}${policyDeleteScript(POLICY_TABLE)}`, topo.node));
  const loads: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    loads.push(loadavg()[0]!);
    // each pair back to back; the pairs' order alternates, so neither side always runs first
    for (const r of i % 2 ? [...rows.slice(2), ...rows.slice(0, 2)] : rows) {
      await after.destroy();
      await guard(r.guard);
      await nftApply(r.guard === guards.base ? ruleset.base! : ruleset.this, topo.node);
      const m = await rr(r.target, r.port);
      r.rate.push(m.rate);
      r.cpu.push(m.cpu);
    }
  }
  const out = [
    `\nTCP_RR pod → pod over a bridge (node netns of the run's own, bridge-nf-call-iptables=1), ${RUNS} interleaved runs × ${RR_COUNT} round trips, netbench (medians; “added”: median of the per-run paired ratios, quartiles in brackets); 1-min load at each run's start ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (median ${median(loads).toFixed(1)}), after: ${(await runCommand('uptime', [])).stdout.trim()}`,
    guards.base
      ? `the node's pod guard (fast path on), proxy ruleset and policy table (no policies), from ${argv.base} (base) and from this tree; the Service's endpoint is pod B\n`
      : "proxy ruleset and policy table (no policies) as rendered now; the node's pod guard without (before) and with (after) its pod → pod fast path; the Service's endpoint is pod B\n",
    '| ruleset · path | TCP_RR /s | client CPU µs / round trip | ClusterIP added (rate) | ClusterIP added (CPU) |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const [i, r] of rows.entries()) {
    const rate = median(r.rate);
    const cpu = median(r.cpu);
    const direct = rows[i - (i % 2)]!;
    // paired per run (pod IP and ClusterIP measured back to back), then the median and quartiles of
    // those ratios: drift between runs cancels, and the spread says how far the figure can be trusted
    const paired = (ratio: (k: number) => number): string => {
      const pct = r.rate.map((_, k) => (ratio(k) - 1) * 100).sort((a, b) => a - b);
      return `${median(pct).toFixed(1)}% (${percentile(pct, 25).toFixed(1)} … ${percentile(pct, 75).toFixed(1)})`;
    };
    const added = i % 2 === 1 ? [paired((k) => direct.rate[k]! / r.rate[k]!), paired((k) => r.cpu[k]! / direct.cpu[k]!)] : ['—', '—'];
    out.push(`| ${r.label} | ${Math.round(rate)} | ${cpu.toFixed(2)} | ${added[0]} | ${added[1]} |`);
  }
  if (guards.base) {
    // the same figure between the trees: this tree's ClusterIP (and pod IP) against the base's, paired per run
    const vs = (k: 0 | 1): string => {
      const [x, y] = [rows[k]!, rows[k + 2]!];
      const pct = (key: 'rate' | 'cpu', better: (a: number, b: number) => number): string => {
        const xs = x[key].map((_, j) => (better(x[key][j]!, y[key][j]!) - 1) * 100).sort((a, b) => a - b);
        return `${median(xs).toFixed(1)}% (${percentile(xs, 25).toFixed(1)} … ${percentile(xs, 75).toFixed(1)})`;
      };
      // rate: this / base; CPU: base / this (both > 0 % when this tree is cheaper)
      return `| ${k ? 'ClusterIP' : 'pod IP'} | ${pct('rate', (a, b) => b / a)} | ${pct('cpu', (a, b) => a / b)} |`;
    };
    out.push('', 'this tree against the base (paired per run; > 0 %: this tree faster / cheaper)\n', '| target | TCP_RR /s | client CPU / round trip |', '| --- | ---: | ---: |', vs(0), vs(1));
  }
  return out;
}

/** pod → pod IP, pod → ClusterIP by nftables DNAT, pod → ClusterIP by the socket balancer; TCP_RR and UDP_RR */
async function socketLbBench(dataDir: string, netnsDir: string, run: string): Promise<string[]> {
  const cg2 = await cgroup2Mount();
  if (!cg2) throw new Error('--socket-lb: no cgroup2 hierarchy');
  const topo = await bridgeNode({ nsDir: `${netnsDir}/rr`, pods: 2, cleanups });
  const [a, b] = [topo.pods[0]!, topo.pods[1]!];
  await runChecked('nsenter', nsenter(topo.node, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']));
  const table = 'hedge-proxy';
  const clusterIP = '10.96.7.7';
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'rr', namespace: 'bench' },
    spec: { clusterIP, ports: [{ name: 'rr', port: 80, protocol: 'TCP' }, { name: 'rr-udp', port: 81, protocol: 'UDP' }] },
  } as ServiceObject;
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'rr-x', namespace: 'bench', labels: { 'kubernetes.io/service-name': 'rr' } },
    addressType: 'IPv4',
    ports: [{ name: 'rr', port: NETBENCH_PORT, protocol: 'TCP' }, { name: 'rr-udp', port: NETBENCH_PORT + 1, protocol: 'UDP' }],
    endpoints: [{ addresses: [b.ip], conditions: { ready: true } }],
  } as EndpointSliceObject;
  const model = buildModel([svc], [slice], { nodeName: 'bench' });
  // the node's tables (proxy ruleset, policy table without policies) and its guard with the fast path, fed the endpoints
  await nftApply(`${renderDelete(table)}${renderRuleset(model, { table }).script}${policyDeleteScript(POLICY_TABLE)}${renderPolicyTable({ policies: [], pods: [], namespaces: {} }, POLICY_TABLE)}`, topo.node);
  cleanups.push(() => nftApply(`${renderDelete(table)}${policyDeleteScript(POLICY_TABLE)}`, topo.node));
  const guard = new PodGuard({ bridge: 'br0', netnsPath: topo.node });
  cleanups.push(() => guard.destroy());
  await guard.ensure([10250]);
  for (const p of topo.pods) await guard.allow({ hostInterface: p.hostInterface, addresses: [{ address: p.ip, family: 4 }] });
  await guard.setSlowEndpoints(slowEndpointsOf(model));
  // the balancer on a cgroup of this run's own (a node's: <cgroup2>/<cgroup-root>)
  const cgroup = join(cg2, `hedge-svcbench-${run}`);
  await mkdir(cgroup, { recursive: true });
  cleanups.push(() => rmdir(cgroup).catch(() => undefined));
  const lb = new SocketBalancer({ name: `svcbench-${run}`, cgroup, cacheDir: join(dataDir, 'bpf'), logger: silentLogger() });
  cleanups.push(() => lb.close());
  await lb.start();
  const held = await lb.sync(model, []);
  if (held !== 2) throw new Error(`socket balancer holds ${held} Service ports, expected 2`);
  const binary = buildNetbench(dataDir);
  const server = await startServer(b.netnsPath, [binary, 'serve', String(NETBENCH_PORT)]);
  cleanups.push(() => stop(server));
  type Proto = 'tcp' | 'udp';
  const measure = async (proto: Proto, target: string, port: number, inCgroup: boolean): Promise<{ rate: number; cpu: number }> => {
    const cmd = nsenter(a.netnsPath, [binary, proto === 'tcp' ? 'rr' : 'udprr', target, String(port), String(RR_COUNT)]);
    // the client joins the balancer's cgroup before it execs, as a runc pod's processes are in theirs
    const enter = inCgroup ? `echo $$ > ${cgroup}/cgroup.procs && ` : '';
    const out = await runChecked('sh', ['-c', `${enter}exec nsenter "$@"`, 'sh', ...cmd], { timeoutMs: 300_000 });
    const j = JSON.parse(out.stdout) as { tcp_rr?: number; tcp_rr_cpu_us?: number; udp_rr?: number; udp_rr_cpu_us?: number };
    return proto === 'tcp' ? { rate: j.tcp_rr!, cpu: j.tcp_rr_cpu_us! } : { rate: j.udp_rr!, cpu: j.udp_rr_cpu_us! };
  };
  const rows = (['tcp', 'udp'] as const).flatMap((proto) => {
    const [podPort, svcPort] = proto === 'tcp' ? [NETBENCH_PORT, 80] : [NETBENCH_PORT + 1, 81];
    const tag = proto === 'tcp' ? 'TCP_RR' : 'UDP_RR';
    return [
      { label: `${tag} · pod → pod IP`, proto, target: b.ip, port: podPort, inCgroup: true },
      { label: `${tag} · pod → ClusterIP, nftables DNAT`, proto, target: clusterIP, port: svcPort, inCgroup: false },
      { label: `${tag} · pod → ClusterIP, socket balancer`, proto, target: clusterIP, port: svcPort, inCgroup: true },
    ];
  }).map((r) => ({ ...r, rate: [] as number[], cpu: [] as number[], load: [] as number[] }));
  for (let i = 0; i < RUNS; i++) {
    // the order alternates run by run, so neither path always runs first
    for (const r of i % 2 ? [...rows].reverse() : rows) {
      r.load.push(loadavg()[0]!);
      const m = await measure(r.proto, r.target, r.port, r.inCgroup);
      r.rate.push(m.rate);
      r.cpu.push(m.cpu);
    }
  }
  const out = [
    `\nClusterIP paths, pod → pod over a bridge (node netns of the run's own, bridge-nf-call-iptables=1, the node's pod guard with its fast path, proxy ruleset and policy table as a node loads them), ${RUNS} interleaved runs × ${RR_COUNT} round trips, netbench (medians; “added”: median of the per-run ratios against the pod IP row, quartiles in brackets); after: ${(await runCommand('uptime', [])).stdout.trim()}\n`,
    '| path | rate /s | client CPU µs / round trip | 1-min load (median) | ClusterIP added (rate) | ClusterIP added (CPU) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [i, r] of rows.entries()) {
    const direct = rows[i - (i % 3)]!;
    const paired = (ratio: (k: number) => number): string => {
      const pct = r.rate.map((_, k) => (ratio(k) - 1) * 100).sort((x, y) => x - y);
      return `${median(pct).toFixed(1)}% (${percentile(pct, 25).toFixed(1)} … ${percentile(pct, 75).toFixed(1)})`;
    };
    const added = i % 3 ? [paired((k) => direct.rate[k]! / r.rate[k]!), paired((k) => r.cpu[k]! / direct.cpu[k]!)] : ['—', '—'];
    out.push(`| ${r.label} | ${Math.round(median(r.rate))} | ${median(r.cpu).toFixed(2)} | ${median(r.load).toFixed(1)} | ${added[0]} | ${added[1]} |`);
  }
  // the maps' side of a sync: SERVICES × ENDPOINTS filled in one bpftool batch, then one endpoint changed
  const base = buildModel(syntheticCluster(SERVICES, ENDPOINTS).services, syntheticCluster(SERVICES, ENDPOINTS).slices, { nodeName: 'node-0' });
  const changed = buildModel(syntheticCluster(SERVICES, ENDPOINTS, Math.floor(SERVICES / 2)).services, syntheticCluster(SERVICES, ENDPOINTS, Math.floor(SERVICES / 2)).slices, { nodeName: 'node-0' });
  const fill: number[] = [];
  const resync: number[] = [];
  for (let i = 0; i < SYNCS; i++) {
    const t0 = performance.now();
    await lb.sync(base, []);
    const t1 = performance.now();
    await lb.sync(changed, []);
    resync.push(performance.now() - t1);
    fill.push(t1 - t0);
    await lb.sync(model, []);
  }
  out.push(
    `\nsocket balancer maps, ${SERVICES} Services × ${ENDPOINTS} endpoints, ${SYNCS} syncs (medians; the nftables side is part 2 of a run without --socket-lb)\n`,
    '| step | ms |',
    '| --- | ---: |',
    `| bpftool batch, ${SERVICES} map elements added | ${median(fill).toFixed(0)} |`,
    `| bpftool batch, one element changed | ${median(resync).toFixed(0)} |`,
  );
  return out;
}

async function main(): Promise<void> {
  const run = randomSuffix();
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-svcbench-'));
  const netnsDir = `/run/hedge/svcbench-${run}`;
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => rm(netnsDir, { recursive: true, force: true }));
  const out: string[] = [];
  try {
    if (argv['socket-lb']) out.push(...(await socketLbBench(dataDir, netnsDir, run)));
    else out.push(...(await rrBench(dataDir, netnsDir)));
    if (!argv.base && !argv['socket-lb']) out.push(...(await syncBench(run, netnsDir)));
  } finally {
    await cleanups.run();
  }
  console.log(out.join('\n'));
}

await main();
