/**
 * Where bridge TCP_RR goes: pod → pod over veth + bridge, layer by layer, against loopback (host
 * = 100 %), all in the same run, interleaved. Everything lives in network namespaces this run
 * creates (a "node" namespace holding the bridge, three pod namespaces), so no other tenant's
 * nftables tables or sysctls are on the path.
 *
 *   kernel floor         bare `ip link` veth + bridge, bridge-nf-call-iptables=0, no rules
 *   + br_netfilter       bridge-nf-call-iptables=1 (what Services and NetworkPolicy need for
 *                        bridged pod → pod traffic, as with kube-proxy)
 *   hedge before         + the guard's bridge/inet tables + the service proxy table (nat hooks:
 *                        conntrack), no fast path: what a node programmed before the fast path
 *   hedge after          the same + the guard's pod → pod fast path (guard/fast-path.ts: netdev
 *                        ingress `fwd` between pod ports, past the bridge and br_netfilter), fed
 *                        as the node feeds it (the Service's endpoint, a third pod, kept slow)
 *
 * Figures: wall-clock round trips per second (what TCP_RR means) and the client's CPU time per
 * round trip (getrusage: its syscalls plus the softirq work — bridge, netfilter, conntrack,
 * delivery — run in its context). On a shared, loaded machine the rate partly measures the
 * scheduler; CPU per round trip measures the path. A second table gives the source's columns
 * (ping, TCP 128 B / 1024 B streams, TCP_RR, UDP_RR; host = 100 %) for host, before and after.
 * The workload is netbench (bench/lib/netbench.c).
 *
 *   node --import tsx bench/bridge-path.ts [--runs 9] [--rr 20000] [--seconds 1] [--pings 20]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChecked, runCommand } from '../src/agent/host/run-command.ts';
import { PodGuard } from '../src/agent/network/guard/pod-guard.ts';
import { buildModel, type EndpointSliceObject, type ServiceObject } from '../src/agent/network/proxy/model.ts';
import { renderRuleset } from '../src/agent/network/proxy/render.ts';
import { slowEndpointsOf } from '../src/agent/network/proxy/proxy.ts';
import { randomSuffix } from '../src/agent/network/test-helpers.ts';
import { bridgeNode, cleanupList, median, nsenter, startServer, stop } from './lib/netns-rr.ts';
import { buildNetbench, NETBENCH_PORT } from './lib/runtime-net.ts';

const { values: argv } = parseArgs({
  options: { runs: { type: 'string', default: '9' }, rr: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '1' }, pings: { type: 'string', default: '20' } },
});
const RUNS = Number(argv.runs);
const RR = Number(argv.rr);
const SECONDS = Number(argv.seconds);
const PINGS = Number(argv.pings);
const cleanups = cleanupList();

interface Row {
  label: string;
  rate: number[];
  cpu: number[];
  udp: number[];
  bits128: number[];
  bits1024: number[];
  ping: number[];
}

async function main(): Promise<void> {
  const run = randomSuffix();
  const dir = await mkdtemp(join(tmpdir(), 'hedge-brpath-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const nsDir = `/run/hedge/brpath-${run}`;
  cleanups.push(() => rm(nsDir, { recursive: true, force: true }));
  const rows: Row[] = [];
  try {
    const topo = await bridgeNode({ nsDir, pods: 3, cleanups });
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
    const srvEp = await startServer(topo.pods[2]!.netnsPath, [binary, 'serve', String(NETBENCH_PORT)]);
    cleanups.push(() => stop(srvEp));

    const guards = { fast: new PodGuard({ bridge: 'br0', netnsPath: node }), slow: new PodGuard({ bridge: 'br0', netnsPath: node, fastPath: false }) };
    const proxyTable = 'hedge-proxy';
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'b' }, spec: { clusterIP: '10.96.7.7', ports: [{ name: 'p', port: 80, protocol: 'TCP' }] } } as ServiceObject;
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's-x', namespace: 'b', labels: { 'kubernetes.io/service-name': 's' } },
      addressType: 'IPv4',
      ports: [{ name: 'p', port: NETBENCH_PORT, protocol: 'TCP' }],
      endpoints: [{ addresses: [ips[2]!], conditions: { ready: true } }],
    } as EndpointSliceObject;
    const model = buildModel([svc], [slice], { nodeName: 'n' });
    const proxyScript = renderRuleset(model, { table: proxyTable }).script;
    const hedge = async (fast: boolean): Promise<void> => {
      const guard = fast ? guards.fast : guards.slow;
      await sysctl(1);
      await guard.ensure([10250]);
      for (const [i, ip] of ips.entries()) await guard.allow({ hostInterface: `veth${i}`, addresses: [{ address: ip, family: 4 }] });
      // as the node feeds it: no NetworkPolicy isolates these pods; the Service's endpoint stays slow
      await guard.setSlowPods([]);
      await guard.setSlowEndpoints(slowEndpointsOf(model));
      await nft(proxyScript);
    };
    const bare = async (brnf: 0 | 1): Promise<void> => {
      await guards.fast.destroy();
      await nft(`table ip ${proxyTable} {\n}\ndelete table ip ${proxyTable}`);
      await sysctl(brnf);
    };
    const configs: { label: string; apply: () => Promise<void>; host?: boolean; full?: boolean }[] = [
      { label: 'host (loopback in the node netns)', apply: () => bare(0), host: true, full: true },
      { label: 'veth + bridge, no rules, bridge-nf-call-iptables=0 (kernel floor)', apply: () => bare(0) },
      { label: '+ br_netfilter (bridge-nf-call-iptables=1), no rules', apply: () => bare(1) },
      { label: 'hedge before: guard + service proxy table, br_netfilter', apply: async () => (await bare(1), await hedge(false)), full: true },
      { label: 'hedge after: + pod → pod fast path (netdev fwd)', apply: async () => (await bare(1), await hedge(true)), full: true },
    ];
    for (const c of configs) rows.push({ label: c.label, rate: [], cpu: [], udp: [], bits128: [], bits1024: [], ping: [] });
    for (let r = 0; r < RUNS; r++) {
      for (const [i, c] of configs.entries()) {
        await c.apply();
        const [ns, target] = c.host ? [node, '127.0.0.1'] : [podB, ips[0]!];
        const row = rows[i]!;
        if (c.full) {
          const p = await runChecked('nsenter', nsenter(ns, ['busybox', 'ping', '-c', String(PINGS), '-i', '0.02', target]));
          row.ping.push(median([...p.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]))));
        }
        const cmd = c.full ? ['client', target, String(NETBENCH_PORT), String(RR), String(SECONDS)] : ['rr', target, String(NETBENCH_PORT), String(RR)];
        const out = await runChecked('nsenter', nsenter(ns, [binary, ...cmd]), { timeoutMs: 300_000 });
        const j = JSON.parse(out.stdout) as { tcp_rr: number; tcp_rr_cpu_us: number; udp_rr?: number; bits128?: number; bits1024?: number };
        row.rate.push(j.tcp_rr);
        row.cpu.push(j.tcp_rr_cpu_us);
        if (j.udp_rr !== undefined) row.udp.push(j.udp_rr);
        if (j.bits128 !== undefined) row.bits128.push(j.bits128);
        if (j.bits1024 !== undefined) row.bits1024.push(j.bits1024);
      }
    }
  } finally {
    await cleanups.run();
  }
  const host = rows[0]!;
  const pct = (x: number[], h: number[]): string => `${((median(x) / median(h)) * 100).toFixed(0)}%`;
  const load = (await runCommand('uptime', [])).stdout.trim();
  console.log(`\nTCP_RR pod → pod over veth + bridge, layer by layer; ${RUNS} interleaved runs × ${RR} round trips (medians); ${load}\n`);
  console.log('| path | TCP_RR /s | % of host (rate) | client CPU µs / round trip | % of host (CPU: host µs / row µs) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.label} | ${Math.round(median(r.rate))} | ${pct(r.rate, host.rate)} | ${median(r.cpu).toFixed(2)} | ${pct(host.cpu, r.cpu)} |`);
  console.log(`\nThe source's columns, host = 100 % (ping: row/host, above 100 % is slower; rates: row/host); ${RUNS} runs, ${SECONDS} s streams\n`);
  console.log('| path | ping | TCP 128 B | TCP 1024 B | TCP_RR | UDP_RR |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows.filter((x) => x.ping.length)) {
    console.log(`| ${r.label} | ${pct(r.ping, host.ping)} | ${pct(r.bits128, host.bits128)} | ${pct(r.bits1024, host.bits1024)} | ${pct(r.rate, host.rate)} | ${pct(r.udp, host.udp)} |`);
  }
  console.log('\nabsolute (medians): ' + rows.filter((x) => x.ping.length).map((r) => `${r.label.split(':')[0]}: ping ${median(r.ping).toFixed(3)} ms, ${(median(r.bits128) / 1e9).toFixed(2)} / ${(median(r.bits1024) / 1e9).toFixed(2)} Gbit/s, TCP_RR ${Math.round(median(r.rate))}/s, UDP_RR ${Math.round(median(r.udp))}/s`).join('; '));
}

await main();
