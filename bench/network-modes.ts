/**
 * Pod networking modes through the real CNI plugins, against loopback inside one namespace
 * (the "host" baseline), all in the same run, in the source's columns: ping latency, TCP
 * throughput with 128 B and 1024 B messages (iperf3 -l), TCP_RR and UDP_RR (1-byte
 * request/response, node scripts under nsenter). For bridge, macvlan (on a veth parent this run
 * owns) and passthrough (host-device moving the two ends of a veth pair into the pods), pod B
 * talks to pod A. ipvlan is absent from this kernel (the module cannot be loaded): its row says
 * so beside the source's figures.
 *
 * Cross-node: two network namespaces as two hosts on a veth "underlay", each with a pod behind
 * a bridge (what the CNI bridge plugin builds) and the node overlay (agent/network/overlay,
 * vxlan hedge.1 through IpNetlink); pod A → pod B over vxlan against host A → host B on the
 * underlay itself (that pair's own 100 %).
 *
 * "% of host" follows the source: latency mode/host (above 100 % is slower), rates mode/host
 * (below 100 % is slower). Rows of the first table are processes in the pod's network namespace
 * (the RR clients and servers are node on both ends, so per-round-trip user-space cost is in
 * every row, the host row included, and compresses differences).
 *
 * Per runtime (second table): mode × runtime, measured from inside real workloads run by the real
 * runtime handlers (bench/lib/runtime-net.ts): runc and gVisor (OciRuntimeHandler + conmon) and
 * the microVM (MicroVmRuntimeHandler, labelled with the accelerator it detected: kvm or tcg), a
 * server container in pod A and client containers in pod B, both of that runtime; the workload is
 * `netbench` (bench/lib/netbench.c, static C), whose host row is the same binary on loopback.
 * Prints markdown; asserts nothing.
 *
 *   node --import tsx bench/network-modes.ts [--quick] [--runs 3] [--rr 20000] [--pings 30] [--iperf-seconds 2]
 *       [--runtimes runc,gvisor,microvm] [--runtime-modes bridge,macvlan,passthrough] [--accel auto|tcg|kvm]
 *   --quick: 1 run, 3000 round trips, 1 s streams, per-runtime on the bridge only (a few minutes)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { NetworkModeConfig } from '../src/agent/network/cni-config.ts';
import { createNetns, removeNetns } from '../src/agent/network/netns.ts';
import { runChecked } from '../src/agent/host/run-command.ts';
import { createVethPair, deleteLink, randomSubnet, randomSuffix } from '../src/agent/network/test-helpers.ts';
import { IpNetlink } from '../src/agent/network/overlay/ip-netlink.ts';
import { Overlay, vtepMac } from '../src/agent/network/overlay/overlay.ts';
import { silentLogger } from '../src/lib/log.ts';
import { buildNetbench, measureBare, measureRuntime, netbenchRootfs, runtimeCases, type NetSample } from './lib/runtime-net.ts';
import { RR_CLIENT, RR_SERVER, UDP_RR_CLIENT, UDP_RR_SERVER, cleanupList, cniPodPair, median, nsenter, startServer, stop } from './lib/netns-rr.ts';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string' },
    rr: { type: 'string' },
    pings: { type: 'string' },
    'iperf-seconds': { type: 'string' },
    quick: { type: 'boolean', default: false },
    runtimes: { type: 'string', default: 'runc,gvisor,microvm' },
    'runtime-modes': { type: 'string' },
    accel: { type: 'string', default: 'auto' },
  },
});
const QUICK = argv.quick;
const RUNS = Number(argv.runs ?? (QUICK ? 1 : 3));
const RR_COUNT = Number(argv.rr ?? (QUICK ? 3000 : 20000));
const PINGS = Number(argv.pings ?? (QUICK ? 10 : 30));
const IPERF_SECONDS = Number(argv['iperf-seconds'] ?? (QUICK ? 1 : 2));
const RUNTIMES = argv.runtimes.split(',').filter(Boolean);
const RUNTIME_MODES = (argv['runtime-modes'] ?? (QUICK ? 'bridge' : 'bridge,macvlan,passthrough')).split(',').filter(Boolean);
const ACCEL = argv.accel as 'auto' | 'tcg' | 'kvm';
const RR_PORT = 7070;
const IPERF_PORT = 5201;
const signal = new AbortController().signal;
// ^C mid-run must not leave namespaces, links and CNI rules behind
const cleanups = cleanupList();

interface Measurement {
  pingMs: number;
  gbits128: number;
  gbits1024: number;
  rrPerSec: number;
  udpRrPerSec: number;
}

interface Scenario {
  label: string;
  serverNs: string;
  clientNs: string;
  target: string;
  pings: number[];
  gbits128: number[];
  gbits1024: number[];
  rrs: number[];
  udpRrs: number[];
  /** the row this one is a percentage of (default the loopback host row) */
  baseline?: string;
}

/** One sample of each metric; scenarios are interleaved per run so load drift on a shared machine hits all alike. */
async function sample(sc: Scenario): Promise<void> {
  const p = await runChecked('nsenter', nsenter(sc.clientNs, ['busybox', 'ping', '-c', String(PINGS), '-i', '0.02', sc.target]));
  for (const m of p.stdout.matchAll(/time=([\d.]+) ms/g)) sc.pings.push(Number(m[1]));
  const rr = await runChecked(
    'nsenter',
    nsenter(sc.clientNs, [process.execPath, '-e', RR_CLIENT, sc.target, String(RR_PORT), String(RR_COUNT)]),
  );
  sc.rrs.push(Number(rr.stdout.trim()));
  // UDP has no retransmission: a lost datagram would stall the loop, so the client has a deadline
  const udp = await runChecked(
    'nsenter',
    nsenter(sc.clientNs, [process.execPath, '-e', UDP_RR_CLIENT, sc.target, String(RR_PORT + 1), String(RR_COUNT)]),
    { timeoutMs: 120_000 },
  );
  sc.udpRrs.push(Number(udp.stdout.trim()));
  for (const len of [128, 1024] as const) {
    const iperfServer = await startServer(
      sc.serverNs,
      ['iperf3', '-s', '-1', '--forceflush', '-B', sc.target, '-p', String(IPERF_PORT)],
      /listening/i,
    );
    try {
      const c = await runChecked(
        'nsenter',
        nsenter(sc.clientNs, ['iperf3', '-c', sc.target, '-p', String(IPERF_PORT), '-t', String(IPERF_SECONDS), '-l', String(len), '-J']),
        { timeoutMs: (IPERF_SECONDS + 20) * 1000 },
      );
      const json = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
      (len === 128 ? sc.gbits128 : sc.gbits1024).push(json.end.sum_received.bits_per_second / 1e9);
    } finally {
      await stop(iperfServer);
    }
  }
}

/** `ip` inside a namespace pinned at `path` */
const ipIn = (path: string, args: string[]): Promise<unknown> => runChecked('nsenter', nsenter(path, ['ip', ...args]));

/**
 * Two hosts (namespaces) on a veth underlay, one pod each behind a bridge, and the overlay
 * programmed between them by agent/network/overlay. Returns the pods' and hosts' addresses.
 */
async function crossNode(run: string, netnsDir: string): Promise<{ hostA: string; hostB: string; podA: string; podB: string; ips: Record<'hostA' | 'hostB' | 'podA' | 'podB', string> }> {
  const p = (n: string): string => `${netnsDir}/${n}`;
  const [hostA, hostB, podA, podB] = [p('xhost-a'), p('xhost-b'), p('xpod-a'), p('xpod-b')];
  for (const ns of [hostA, hostB, podA, podB]) {
    await createNetns(ns);
    cleanups.push(() => removeNetns(ns));
  }
  const under = `10.${232 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 256)}`;
  const ips = { hostA: `${under}.10`, hostB: `${under}.11`, podA: '10.244.0.2', podB: '10.244.1.2' };
  // the underlay: a veth from host A into host B (moved by each namespace's file)
  const [ua, ub] = [`hxa${run}`, `hxb${run}`];
  await createVethPair(ua, ub);
  cleanups.push(() => deleteLink(ua));
  await runChecked('sh', ['-c', `exec 3<${hostA} 4<${hostB}; ip link set ${ua} netns /proc/self/fd/3; ip link set ${ub} netns /proc/self/fd/4`]);
  for (const [host, dev, ip, pod, podIp, cidr] of [[hostA, ua, ips.hostA, podA, ips.podA, '10.244.0.0/24'], [hostB, ub, ips.hostB, podB, ips.podB, '10.244.1.0/24']] as const) {
    await ipIn(host, ['addr', 'add', `${ip}/24`, 'dev', dev]);
    await ipIn(host, ['link', 'set', dev, 'up']);
    // the pod side as the CNI bridge plugin builds it (bridge with the gateway, veth, MTU from the overlay)
    const gw = cidr.replace('.0/24', '.1');
    await ipIn(host, ['link', 'add', 'cni0', 'mtu', '1450', 'type', 'bridge']);
    await ipIn(host, ['addr', 'add', `${gw}/24`, 'dev', 'cni0']);
    await ipIn(host, ['link', 'set', 'cni0', 'up']);
    await runChecked('sh', ['-c', `exec 3<${pod}; nsenter --net=${host} ip link add vpod mtu 1450 type veth peer name eth0 mtu 1450 netns /proc/self/fd/3`]);
    await ipIn(host, ['link', 'set', 'vpod', 'master', 'cni0', 'up']);
    await ipIn(pod, ['addr', 'add', `${podIp}/24`, 'dev', 'eth0']);
    await ipIn(pod, ['link', 'set', 'eth0', 'up']);
    await ipIn(pod, ['route', 'add', 'default', 'via', gw]);
  }
  const peers = [
    { name: 'a', podCIDR: '10.244.0.0/24', publicIP: ips.hostA, vtepMAC: vtepMac('a') },
    { name: 'b', podCIDR: '10.244.1.0/24', publicIP: ips.hostB, vtepMAC: vtepMac('b') },
  ];
  for (const [name, host, cidr, ip] of [['a', hostA, '10.244.0.0/24', ips.hostA], ['b', hostB, '10.244.1.0/24', ips.hostB]] as const) {
    const o = new Overlay({ mode: 'vxlan', nodeName: name, podCIDR: cidr, publicIP: ip }, new IpNetlink({ netnsPath: host }), silentLogger());
    await o.setUp(signal);
    await o.sync(peers, signal);
  }
  return { hostA, hostB, podA, podB, ips };
}

async function main(): Promise<void> {
  const run = randomSuffix();
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-netbench-'));
  const netnsDir = `/run/hedge/bench-${run}`;
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => rm(netnsDir, { recursive: true, force: true }));
  const scenarios: Scenario[] = [];
  const scenario = (label: string, serverNs: string, clientNs: string, target: string, baseline?: string): void => {
    scenarios.push({ label, serverNs, clientNs, target, pings: [], gbits128: [], gbits1024: [], rrs: [], udpRrs: [], baseline });
  };
  const results: [string, string | undefined, Measurement][] = [];
  try {
    const hostNs = `${netnsDir}/host`;
    await createNetns(hostNs);
    cleanups.push(() => removeNetns(hostNs));
    scenario('host (loopback, one netns)', hostNs, hostNs, '127.0.0.1');

    const parent = `hbm${run}a`;
    await createVethPair(parent, `hbm${run}b`);
    cleanups.push(() => deleteLink(parent));
    const [devA, devB] = [`hbp${run}a`, `hbp${run}b`];
    await createVethPair(devA, devB);
    cleanups.push(() => deleteLink(devA));

    const modes: [string, NetworkModeConfig][] = [
      ['bridge (veth + bridge, CNI bridge)', { type: 'bridge', bridge: `hbb${run}`, subnet: randomSubnet().subnet }],
      ['macvlan (bridge mode, veth parent)', { type: 'macvlan', master: parent, subnet: randomSubnet().subnet }],
      ['passthrough (host-device, veth ends)', { type: 'passthrough', devices: [devA, devB], subnet: randomSubnet().subnet }],
    ];
    const pairs: { type: string; a: { netnsPath: string; ip: string }; b: { netnsPath: string; ip: string } }[] = [];
    for (const [label, mode] of modes) {
      const { a, b } = await cniPodPair({ mode, networkName: `bench-${mode.type}`, dataDir, netnsDir, run, prefix: mode.type, cleanups, signal });
      scenario(label, a.netnsPath, b.netnsPath, a.ip);
      pairs.push({ type: mode.type, a, b });
    }
    const x = await crossNode(run, netnsDir);
    scenario(HOSTS_LINK, x.hostB, x.hostA, x.ips.hostB, HOSTS_LINK);
    scenario('cross-node pod → pod over vxlan (hedge.1)', x.podB, x.podA, x.ips.podB, HOSTS_LINK);
    for (const sc of scenarios) {
      const server = await startServer(sc.serverNs, [process.execPath, '-e', RR_SERVER, sc.target, String(RR_PORT)], /ready/);
      cleanups.push(() => stop(server));
      const udpServer = await startServer(sc.serverNs, [process.execPath, '-e', UDP_RR_SERVER, sc.target, String(RR_PORT + 1)], /ready/);
      cleanups.push(() => stop(udpServer));
    }
    for (let r = 0; r < RUNS; r++) for (const sc of scenarios) await sample(sc);
    for (const sc of scenarios) {
      results.push([sc.label, sc.baseline, { pingMs: median(sc.pings), gbits128: median(sc.gbits128), gbits1024: median(sc.gbits1024), rrPerSec: median(sc.rrs), udpRrPerSec: median(sc.udpRrs) }]);
    }
    printTables(results);
    if (RUNTIMES.length > 0) await perRuntime({ run, dataDir, hostNs, pairs });
  } finally {
    await cleanups.run();
  }
}

/** mode × runtime with netbench inside real workloads (bench/lib/runtime-net.ts); prints its own tables */
async function perRuntime(o: { run: string; dataDir: string; hostNs: string; pairs: { type: string; a: { netnsPath: string; ip: string }; b: { netnsPath: string; ip: string } }[] }): Promise<void> {
  const binary = buildNetbench(o.dataDir);
  const rootfs = netbenchRootfs(join(o.dataDir, 'netbench-rootfs'), binary);
  const cgroupTop = `hedge-netbench-${o.run}`;
  cleanups.push(() => runChecked('sh', ['-c', `for c in cpu cpuacct memory pids blkio cpuset freezer devices net_cls perf_event hugetlb; do find /sys/fs/cgroup/$c/${cgroupTop} -depth -type d -exec rmdir {} + 2>/dev/null; done; true`]));
  const { cases, skipped } = await runtimeCases({ names: RUNTIMES, stateDir: join(o.dataDir, 'rt-state'), accelerator: ACCEL, signal });
  const opts = { samples: RUNS, rrCount: RR_COUNT, seconds: IPERF_SECONDS, pings: PINGS };
  const rows: { label: string; m: Measurement }[] = [];
  const summarize = (label: string, xs: NetSample[]): void => {
    rows.push({
      label,
      m: {
        pingMs: xs.some((x) => x.pingsMs.length) ? median(xs.flatMap((x) => x.pingsMs)) : NaN,
        gbits128: median(xs.map((x) => x.bits128)) / 1e9,
        gbits1024: median(xs.map((x) => x.bits1024)) / 1e9,
        rrPerSec: median(xs.map((x) => x.tcpRr)),
        udpRrPerSec: median(xs.map((x) => x.udpRr)),
      },
    });
  };
  summarize('host (loopback, one netns)', await measureBare({ binary, serverNs: o.hostNs, clientNs: o.hostNs, target: '127.0.0.1', ...opts }));
  for (const pair of o.pairs.filter((p) => RUNTIME_MODES.includes(p.type))) {
    summarize(`${pair.type} · netns processes (no runtime)`, await measureBare({ binary, serverNs: pair.a.netnsPath, clientNs: pair.b.netnsPath, target: pair.a.ip, ...opts }));
    for (const rc of cases) {
      // one runtime failing (a microVM that does not boot on a loaded machine) must not lose the others' rows
      try {
        const xs = await measureRuntime({ rc, a: pair.a, b: pair.b, rootfs, workDir: join(o.dataDir, 'rt', `${pair.type}-${rc.handler.name}`), tag: `nb${o.run}-${pair.type.slice(0, 3)}-${rc.handler.name}`, cgroupParent: cgroupTop, signal, ...opts });
        summarize(`${pair.type} · ${rc.label}`, xs);
      } catch (err) {
        skipped.push(`${pair.type} · ${rc.label} failed: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  const host = rows[0]!.m;
  const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : 'n/a');
  console.log(`\n## Per runtime: netbench (static C) inside the workloads, runs=${RUNS} rr=${RR_COUNT} pings=${PINGS}×${RUNS} streams=${IPERF_SECONDS}s (medians)\n`);
  console.log('Server container in pod A, client container in pod B, both of the runtime named; ping is busybox inside the client workload.\n');
  console.log('| mode · runtime | ping RTT ms | TCP 128 B Gbit/s | TCP 1024 B Gbit/s | TCP_RR /s | UDP_RR /s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const { label, m } of rows) {
    console.log(`| ${label} | ${Number.isFinite(m.pingMs) ? m.pingMs.toFixed(3) : 'n/a'} | ${m.gbits128.toFixed(2)} | ${m.gbits1024.toFixed(2)} | ${Math.round(m.rrPerSec)} | ${Math.round(m.udpRrPerSec)} |`);
  }
  console.log('\n% of host (netbench on loopback), beside the source:\n');
  console.log('| mode · runtime | ping | 128 B | 1024 B | TCP_RR | UDP_RR | source (ping / 128 B / 1024 B / TCP_RR / UDP_RR) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const { label, m } of rows.slice(1)) {
    console.log(`| ${label} | ${pct(m.pingMs / host.pingMs)} | ${pct(m.gbits128 / host.gbits128)} | ${pct(m.gbits1024 / host.gbits1024)} | ${pct(m.rrPerSec / host.rrPerSec)} | ${pct(m.udpRrPerSec / host.udpRrPerSec)} | ${SOURCE[label.split(' ')[0]!] ?? '—'} |`);
  }
  if (skipped.length) console.log(`\nNot measured: ${skipped.join('; ')}.`);
  console.log('gVisor runs with --network=host inside the pod netns (its own netstack needs one sandbox per pod: docs/decisions/0004), so its ICMP is answered by the netns kernel; n/a ping = no ICMP socket in that workload.');
}

const HOSTS_LINK = "hosts' own link (veth underlay, host A → host B)";

/** the source's figures (% of host: ping latency, 128 B, 1024 B, TCP_RR, UDP_RR) */
const SOURCE: Record<string, string> = {
  bridge: '140 / 82 / 80 / 77 / 75',
  ipvlan: '121 / 81 / 85 / 80 / 78',
  passthrough: '~100 / 100 / 100 / 98 / 92',
};

function printTables(results: [string, string | undefined, Measurement][]): void {
  const host = results[0][2];
  const byLabel = new Map(results.map(([l, , m]) => [l, m]));
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  const source = (label: string): string => SOURCE[label.split(' ')[0]] ?? '—';
  console.log(`\nruns=${RUNS} rr=${RR_COUNT} pings=${PINGS}×${RUNS} iperf=${IPERF_SECONDS}s per message size (medians); the machine is shared, so absolute numbers move between runs\n`);
  console.log('Absolute:\n');
  console.log('| mode | ping RTT ms | TCP 128 B Gbit/s | TCP 1024 B Gbit/s | TCP_RR /s | UDP_RR /s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, , m] of results) {
    console.log(`| ${label} | ${m.pingMs.toFixed(3)} | ${m.gbits128.toFixed(2)} | ${m.gbits1024.toFixed(2)} | ${Math.round(m.rrPerSec)} | ${Math.round(m.udpRrPerSec)} |`);
  }
  console.log('\n% of host (source convention: latency mode/host, rates mode/host), beside the source:\n');
  console.log('| mode | ping | 128 B | 1024 B | TCP_RR | UDP_RR | source (ping / 128 B / 1024 B / TCP_RR / UDP_RR) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  const rows: [string, string | undefined, Measurement | undefined][] = [...results];
  rows.splice(2, 0, ['ipvlan', undefined, undefined]);
  for (const [label, baseline, m] of rows) {
    if (!m) {
      console.log(`| ipvlan | n/a | n/a | n/a | n/a | n/a | ${SOURCE.ipvlan} — not measurable: this kernel has no ipvlan module |`);
      continue;
    }
    const b = (baseline && byLabel.get(baseline)) || host;
    const note = baseline && baseline !== label ? ` (vs ${baseline === HOSTS_LINK ? "the hosts' link" : baseline})` : '';
    console.log(
      `| ${label}${note} | ${pct(m.pingMs / b.pingMs)} | ${pct(m.gbits128 / b.gbits128)} | ${pct(m.gbits1024 / b.gbits1024)} | ${pct(m.rrPerSec / b.rrPerSec)} | ${pct(m.udpRrPerSec / b.udpRrPerSec)} | ${source(label)} |`,
    );
  }
}

await main();
