/**
 * Pod networking modes through the real CNI plugins, against loopback inside one namespace
 * (the "host" baseline), all in the same run. For bridge, macvlan (on a veth parent this run
 * owns) and passthrough (host-device moving the two ends of a veth pair into the pods), pod B
 * talks to pod A: ping RTT (median of samples), TCP throughput (iperf3) and TCP_RR (1-byte
 * request/response over one connection, node scripts under nsenter). Prints a markdown table;
 * asserts nothing. "% of host" is host/mode for RTT and mode/host for the rates, so 100% means
 * as good as loopback either way. TCP_RR runs node on both ends, so per-round-trip user-space
 * cost is part of every row (the host row included); it compresses differences between modes.
 *
 *   node --import tsx bench/network-modes.ts [--runs 3] [--rr 20000] [--pings 30] [--iperf-seconds 2]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CniNetworkPlugin } from '../src/agent/network/cni-plugin.ts';
import type { NetworkModeConfig } from '../src/agent/network/cni-config.ts';
import { createNetns, removeNetns } from '../src/agent/network/netns.ts';
import { runChecked } from '../src/agent/host/run-command.ts';
import { createVethPair, deleteLink, randomSubnet, randomSuffix } from '../src/agent/network/test-helpers.ts';
import type { NetworkSandbox } from '../src/agent/network/types.ts';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    rr: { type: 'string', default: '20000' },
    pings: { type: 'string', default: '30' },
    'iperf-seconds': { type: 'string', default: '2' },
  },
});
const RUNS = Number(argv.runs);
const RR_COUNT = Number(argv.rr);
const PINGS = Number(argv.pings);
const IPERF_SECONDS = Number(argv['iperf-seconds']);
const RR_PORT = 7070;
const IPERF_PORT = 5201;
const signal = new AbortController().signal;

interface Measurement {
  pingMs: number;
  gbits: number;
  rrPerSec: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const RR_SERVER = `require('net').createServer(s => { s.setNoDelay(true); s.on('data', d => s.write(d)); })
  .listen(+process.argv[2], process.argv[1], () => console.log('ready'));`;
const RR_CLIENT = `const [host, port, n] = [process.argv[1], +process.argv[2], +process.argv[3]];
const s = require('net').connect({ host, port, noDelay: true }, () => {
  const b = Buffer.from('x'); let i = 0; const t0 = process.hrtime.bigint();
  s.on('data', (d) => { i += d.length; if (i >= n) { console.log(n / (Number(process.hrtime.bigint() - t0) / 1e9)); s.destroy(); } else s.write(b); });
  s.write(b);
});`;

function nsenter(netns: string, cmd: string[]): string[] {
  return [`--net=${netns}`, '--', ...cmd];
}

/** Starts a long-lived server in the namespace and waits for `readyLine` on its stdout (kept drained after). */
function startServer(netns: string, cmd: string[], readyLine: RegExp): Promise<ChildProcess> {
  const child = spawn('nsenter', nsenter(netns, cmd), { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (readyLine.test(seen)) resolve(child);
    });
    child.on('close', () => reject(new Error(`${cmd[0]} exited before it was ready: ${seen}`)));
    child.on('error', reject);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'close');
}

interface Scenario {
  label: string;
  serverNs: string;
  clientNs: string;
  target: string;
  pings: number[];
  gbits: number[];
  rrs: number[];
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
  const iperfServer = await startServer(
    sc.serverNs,
    ['iperf3', '-s', '-1', '--forceflush', '-B', sc.target, '-p', String(IPERF_PORT)],
    /listening/i,
  );
  try {
    const c = await runChecked(
      'nsenter',
      nsenter(sc.clientNs, ['iperf3', '-c', sc.target, '-p', String(IPERF_PORT), '-t', String(IPERF_SECONDS), '-J']),
      { timeoutMs: (IPERF_SECONDS + 20) * 1000 },
    );
    const json = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
    sc.gbits.push(json.end.sum_received.bits_per_second / 1e9);
  } finally {
    await stop(iperfServer);
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;

/** Runs once however often it is called (normal end and a signal may race), newest first. */
function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e: unknown) => console.error('cleanup:', e));
  })();
  return cleaning;
}

// ^C mid-run must not leave namespaces, links and CNI rules behind
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`${sig}: cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const run = randomSuffix();
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-netbench-'));
  const netnsDir = `/run/hedge/bench-${run}`;
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => rm(netnsDir, { recursive: true, force: true }));
  const scenarios: Scenario[] = [];
  const scenario = (label: string, serverNs: string, clientNs: string, target: string): void => {
    scenarios.push({ label, serverNs, clientNs, target, pings: [], gbits: [], rrs: [] });
  };
  const results: [string, Measurement][] = [];
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
    for (const [label, mode] of modes) {
      const networkName = `bench-${mode.type}`;
      const plugin = new CniNetworkPlugin({ mode, dataDir, netnsDir, networkName });
      const sandbox = (n: string): NetworkSandbox => ({
        id: `${run}-${mode.type}-${n}`,
        pod: { uid: `${run}-${n}`, namespace: 'bench', name: n },
        netnsPath: `${netnsDir}/${mode.type}-${n}`,
        portMappings: [],
      });
      const [a, b] = [sandbox('a'), sandbox('b')];
      cleanups.push(async () => {
        await plugin.tearDown(a, signal);
        await plugin.tearDown(b, signal);
        await plugin.destroy();
      });
      const ra = await plugin.setUp(a, signal);
      await plugin.setUp(b, signal);
      scenario(label, a.netnsPath, b.netnsPath, ra.ips[0].address);
    }
    for (const sc of scenarios) {
      const server = await startServer(sc.serverNs, [process.execPath, '-e', RR_SERVER, sc.target, String(RR_PORT)], /ready/);
      cleanups.push(() => stop(server));
    }
    for (let r = 0; r < RUNS; r++) for (const sc of scenarios) await sample(sc);
    for (const sc of scenarios) {
      results.push([sc.label, { pingMs: median(sc.pings), gbits: median(sc.gbits), rrPerSec: median(sc.rrs) }]);
    }
  } finally {
    await runCleanups();
  }

  const host = results[0][1];
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  console.log(`\nruns=${RUNS} rr=${RR_COUNT} pings=${PINGS}×${RUNS} iperf=${IPERF_SECONDS}s (medians)\n`);
  console.log('| mode | ping RTT ms | % of host | iperf3 Gbit/s | % of host | TCP_RR /s | % of host |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, m] of results) {
    console.log(
      `| ${label} | ${m.pingMs.toFixed(3)} | ${pct(host.pingMs / m.pingMs)} | ${m.gbits.toFixed(1)} | ${pct(m.gbits / host.gbits)} | ${Math.round(m.rrPerSec)} | ${pct(m.rrPerSec / host.rrPerSec)} |`,
    );
  }
}

await main();
