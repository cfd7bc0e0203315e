/**
 * Where bridge TCP_RR goes: pod → pod over veth + bridge, layer by layer, against loopback (host
 * = 100 %), all in the same run, interleaved. Everything lives in network namespaces this run
 * creates (a "node" namespace holding the bridge, two pod namespaces), so no other tenant's
 * nftables tables or sysctls are on the path.
 *
 *   kernel floor         bare `ip link` veth + bridge, bridge-nf-call-iptables=0, no rules
 *   + br_netfilter       bridge-nf-call-iptables=1 (what Services and NetworkPolicy need for
 *                        bridged pod → pod traffic, as with kube-proxy)
 *   + hedge (before)     + the guard tables as PodGuard wrote them before (bridge prerouting hook,
 *                        three rules per frame) + the service proxy table (nat hooks: conntrack)
 *   + hedge (after)      + the guard as it is now (one rule per frame: an ifname-keyed verdict map)
 *                        + the proxy table as it is now
 *
 * Two figures per row: wall-clock round trips per second (what TCP_RR means) and the client's
 * CPU time per round trip (getrusage: its syscalls plus the softirq work — bridge, netfilter,
 * conntrack, delivery — run in its context). On a shared, loaded machine the rate mostly measures
 * the scheduler; CPU per round trip measures the path, so the % column derived from it
 * (host µs / row µs) is the one to read. The workload is netbench (bench/lib/netbench.c).
 *
 *   node --import tsx bench/bridge-path.ts [--runs 9] [--rr 20000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChecked, runCommand } from '../src/agent/host/run-command.ts';
import { PodGuard } from '../src/agent/network/guard/pod-guard.ts';
import { buildModel, type EndpointSliceObject, type ServiceObject } from '../src/agent/network/proxy/model.ts';
import { renderRuleset } from '../src/agent/network/proxy/render.ts';
import { randomSuffix } from '../src/agent/network/test-helpers.ts';
import { bridgeNode, cleanupList, median, nsenter, startServer, stop } from './lib/netns-rr.ts';
import { buildNetbench, NETBENCH_PORT } from './lib/runtime-net.ts';

const { values: argv } = parseArgs({ options: { runs: { type: 'string', default: '9' }, rr: { type: 'string', default: '20000' } } });
const RUNS = Number(argv.runs);
const RR = Number(argv.rr);
const cleanups = cleanupList();

/** the guard's bridge chain as PodGuard wrote it before this bench's fix: three rules, each looking the port up */
function legacyGuardRules(t: string): string {
  return [
    `flush chain bridge ${t} prerouting`,
    `add rule bridge ${t} prerouting iifname @ports ether type ip iifname . ip saddr != @allowed4 counter drop`,
    `add rule bridge ${t} prerouting iifname @ports ether type arp iifname . arp saddr ip != @allowed4 counter drop`,
    `add rule bridge ${t} prerouting iifname @ports ether type ip6 ip6 saddr != fe80::/10 iifname . ip6 saddr != @allowed6 counter drop`,
  ].join('\n');
}

async function main(): Promise<void> {
  const run = randomSuffix();
  const dir = await mkdtemp(join(tmpdir(), 'hedge-brpath-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const nsDir = `/run/hedge/brpath-${run}`;
  cleanups.push(() => rm(nsDir, { recursive: true, force: true }));
  const rows: { label: string; rate: number[]; cpu: number[] }[] = [];
  try {
    const topo = await bridgeNode({ nsDir, pods: 2, cleanups });
    const node = topo.node;
    const [podA, podB] = [topo.pods[0]!.netnsPath, topo.pods[1]!.netnsPath];
    const ips = topo.pods.map((p) => p.ip);
    const inNode = (cmd: string[]): Promise<unknown> => runChecked('nsenter', nsenter(node, cmd));
    const sysctl = (v: 0 | 1): Promise<unknown> => inNode(['sysctl', '-qw', `net.bridge.bridge-nf-call-iptables=${v}`]);
    const nft = async (script: string): Promise<void> => {
      const r = await runCommand('nsenter', nsenter(node, ['nft', '-f', '-']), { input: `${script}\n` });
      if (r.code !== 0) throw new Error(`nft: ${r.stderr}`);
    };
    const binary = buildNetbench(dir);
    const srvPod = await startServer(podA, [binary, 'serve', String(NETBENCH_PORT)]);
    cleanups.push(() => stop(srvPod));
    const srvHost = await startServer(node, [binary, 'serve', String(NETBENCH_PORT)]);
    cleanups.push(() => stop(srvHost));

    const guard = new PodGuard({ bridge: 'br0', netnsPath: node });
    const proxyTable = 'hedge-proxy';
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'b' }, spec: { clusterIP: '10.96.7.7', ports: [{ name: 'p', port: 80, protocol: 'TCP' }] } } as ServiceObject;
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's-x', namespace: 'b', labels: { 'kubernetes.io/service-name': 's' } },
      addressType: 'IPv4',
      ports: [{ name: 'p', port: NETBENCH_PORT, protocol: 'TCP' }],
      endpoints: [{ addresses: [ips[0]!], conditions: { ready: true } }],
    } as EndpointSliceObject;
    const proxyScript = renderRuleset(buildModel([svc], [slice], { nodeName: 'n' }), { table: proxyTable }).script;
    const hedge = async (legacy: boolean): Promise<void> => {
      await sysctl(1);
      await guard.ensure([10250]);
      if (legacy) await nft(legacyGuardRules(guard.table));
      for (const [i, ip] of ips.entries()) await guard.allow({ hostInterface: `veth${i}`, addresses: [{ address: ip, family: 4 }] });
      await nft(proxyScript);
    };
    const bare = async (brnf: 0 | 1): Promise<void> => {
      await guard.destroy();
      await nft(`table ip ${proxyTable} {\n}\ndelete table ip ${proxyTable}`);
      await sysctl(brnf);
    };
    const configs: { label: string; apply: () => Promise<void>; host?: boolean }[] = [
      { label: 'host (loopback in the node netns)', apply: () => bare(0), host: true },
      { label: 'veth + bridge, no rules, bridge-nf-call-iptables=0 (kernel floor)', apply: () => bare(0) },
      { label: '+ br_netfilter (bridge-nf-call-iptables=1), no rules', apply: () => bare(1) },
      { label: '+ hedge guard (before: 3 rules/frame) + service proxy table', apply: () => hedge(true) },
      { label: '+ hedge guard (after: 1 vmap lookup/frame) + service proxy table', apply: () => hedge(false) },
    ];
    for (const c of configs) rows.push({ label: c.label, rate: [], cpu: [] });
    for (let r = 0; r < RUNS; r++) {
      for (const [i, c] of configs.entries()) {
        await c.apply();
        const [ns, target] = c.host ? [node, '127.0.0.1'] : [podB, ips[0]!];
        const out = await runChecked('nsenter', nsenter(ns, [binary, 'rr', target, String(NETBENCH_PORT), String(RR)]), { timeoutMs: 300_000 });
        const j = JSON.parse(out.stdout) as { tcp_rr: number; tcp_rr_cpu_us: number };
        rows[i]!.rate.push(j.tcp_rr);
        rows[i]!.cpu.push(j.tcp_rr_cpu_us);
      }
    }
  } finally {
    await cleanups.run();
  }
  const host = { rate: median(rows[0]!.rate), cpu: median(rows[0]!.cpu) };
  console.log(`\nTCP_RR pod → pod over veth + bridge, layer by layer; ${RUNS} interleaved runs × ${RR} round trips (medians)\n`);
  console.log('| path | TCP_RR /s | % of host (rate) | client CPU µs / round trip | % of host (CPU: host µs / row µs) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const rate = median(r.rate);
    const cpu = median(r.cpu);
    console.log(`| ${r.label} | ${Math.round(rate)} | ${((rate / host.rate) * 100).toFixed(0)}% | ${cpu.toFixed(2)} | ${((host.cpu / cpu) * 100).toFixed(0)}% |`);
  }
}

await main();
