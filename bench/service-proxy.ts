/**
 * The node's service proxy (src/agent/network/proxy): what a ClusterIP costs on TCP_RR against
 * the pod IP itself, and how long a sync of a large cluster takes.
 *
 * 1. Two pods on a CNI bridge (random bridge/subnet in the host netns, pods in namespaces this
 *    run creates); pod A does 1-byte request/response over one connection to pod B by its IP and
 *    through a ClusterIP programmed by the proxy's real ruleset (its own nftables table, removed
 *    at the end). Rounds alternate so load drift on a shared machine hits both alike.
 * 2. 1,000 Services × 10 endpoints: model + render time, and `nft -f -` apply time of the full
 *    table (first sync) and of an in-place resync after one endpoint changed; applied inside a
 *    network namespace this run creates.
 *
 * Prints markdown tables of medians; asserts nothing.
 *
 *   node --import tsx bench/service-proxy.ts [--runs 5] [--rr 20000] [--syncs 5] [--services 1000] [--endpoints 10]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNetns, removeNetns } from '../src/agent/network/netns.ts';
import { runChecked, runCommand } from '../src/agent/host/run-command.ts';
import { randomSubnet, randomSuffix } from '../src/agent/network/test-helpers.ts';
import { buildModel, type EndpointSliceObject, type ServiceObject } from '../src/agent/network/proxy/model.ts';
import { renderDelete, renderRuleset } from '../src/agent/network/proxy/render.ts';
import { RR_CLIENT, RR_SERVER, cleanupList, cniPodPair, median, nsenter, startServer, stop } from './lib/netns-rr.ts';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    rr: { type: 'string', default: '20000' },
    syncs: { type: 'string', default: '5' },
    services: { type: 'string', default: '1000' },
    endpoints: { type: 'string', default: '10' },
  },
});
const RUNS = Number(argv.runs);
const RR_COUNT = Number(argv.rr);
const SYNCS = Number(argv.syncs);
const SERVICES = Number(argv.services);
const ENDPOINTS = Number(argv.endpoints);
const RR_PORT = 7070;
const signal = new AbortController().signal;
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

async function rrBench(run: string, dataDir: string, netnsDir: string): Promise<string[]> {
  const mode = { type: 'bridge' as const, bridge: `hsb${run}`, subnet: randomSubnet().subnet };
  const { a, b } = await cniPodPair({ mode, networkName: 'bench-svc', dataDir, netnsDir, run, prefix: 'pod', cleanups, signal });
  const podB = b.ip;
  const table = `hp-rr-${run}`;
  // a ClusterIP from TEST-NET-ish space unlikely to be anyone's: 10.111.<rand>.<rand>
  const clusterIP = `10.111.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`;
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'rr', namespace: 'bench' }, spec: { clusterIP, ports: [{ name: 'rr', port: 80, protocol: 'TCP' }] } } as ServiceObject;
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'rr-x', namespace: 'bench', labels: { 'kubernetes.io/service-name': 'rr' } },
    addressType: 'IPv4',
    ports: [{ name: 'rr', port: RR_PORT, protocol: 'TCP' }],
    endpoints: [{ addresses: [podB], conditions: { ready: true } }],
  } as EndpointSliceObject;
  const r = renderRuleset(buildModel([svc], [slice], { nodeName: 'bench' }), { table });
  await nftApply(r.script);
  cleanups.push(() => nftApply(renderDelete(table)));
  const server = await startServer(b.netnsPath, [process.execPath, '-e', RR_SERVER, '0.0.0.0', String(RR_PORT)]);
  cleanups.push(() => stop(server));
  const rr = async (target: string, port: number): Promise<number> => {
    const out = await runChecked('nsenter', nsenter(a.netnsPath, [process.execPath, '-e', RR_CLIENT, target, String(port), String(RR_COUNT)]));
    return Number(out.stdout.trim());
  };
  const direct: number[] = [];
  const viaService: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    direct.push(await rr(podB, RR_PORT));
    viaService.push(await rr(clusterIP, 80));
  }
  const d = median(direct);
  const s = median(viaService);
  return [
    `\nTCP_RR pod → pod over a CNI bridge, ${RUNS} runs × ${RR_COUNT} round trips (medians)\n`,
    '| path | TCP_RR /s | % of pod IP | added latency µs |',
    '| --- | ---: | ---: | ---: |',
    `| pod → pod IP | ${Math.round(d)} | 100% | 0 |`,
    `| pod → ClusterIP (nftables DNAT) | ${Math.round(s)} | ${((s / d) * 100).toFixed(1)}% | ${((1 / s - 1 / d) * 1e6).toFixed(1)} |`,
  ];
}

async function main(): Promise<void> {
  const run = randomSuffix();
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-svcbench-'));
  const netnsDir = `/run/hedge/svcbench-${run}`;
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => rm(netnsDir, { recursive: true, force: true }));
  const out: string[] = [];
  try {
    out.push(...(await rrBench(run, dataDir, netnsDir)));
    out.push(...(await syncBench(run, netnsDir)));
  } finally {
    await cleanups.run();
  }
  console.log(out.join('\n'));
}

await main();
