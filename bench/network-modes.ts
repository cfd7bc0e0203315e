/**
 * Pod networking modes through the real CNI plugins, against loopback inside one namespace
 * (the "host" baseline), all in the same run. For bridge, macvlan (on a veth parent this run
 * owns) and passthrough (host-device moving the two ends of a veth pair into the pods), pod B
 * talks to pod A: ping RTT (median of samples), TCP throughput (iperf3) and TCP_RR (1-byte
 * request/response over one connection, node scripts under nsenter). Prints a markdown table;
 * asserts nothing. "% of host" is host/mode for RTT and mode/host for the rates, so 100% means
 * as good as loopback either way.
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
import { runChecked } from '../src/agent/network/run-process.ts';
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

/** Starts a long-lived server in the namespace and waits for `readyLine` on its stdout. */
async function startServer(netns: string, cmd: string[], readyLine: RegExp): Promise<ChildProcess> {
  const child = spawn('nsenter', nsenter(netns, cmd), { stdio: ['ignore', 'pipe', 'inherit'] });
  let seen = '';
  for await (const chunk of child.stdout!) {
    seen += String(chunk);
    if (readyLine.test(seen)) return child;
  }
  throw new Error(`${cmd[0]} exited before it was ready: ${seen}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'close');
}

async function measure(serverNs: string, clientNs: string, target: string): Promise<Measurement> {
  const rrServer = await startServer(serverNs, [process.execPath, '-e', RR_SERVER, target, String(RR_PORT)], /ready/);
  try {
    const pings: number[] = [];
    const rrs: number[] = [];
    const gbits: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const p = await runChecked('nsenter', nsenter(clientNs, ['busybox', 'ping', '-c', String(PINGS), '-i', '0.02', target]));
      for (const m of p.stdout.matchAll(/time=([\d.]+) ms/g)) pings.push(Number(m[1]));
      const rr = await runChecked('nsenter', nsenter(clientNs, [process.execPath, '-e', RR_CLIENT, target, String(RR_PORT), String(RR_COUNT)]));
      rrs.push(Number(rr.stdout.trim()));
      const iperfServer = await startServer(serverNs, ['iperf3', '-s', '-1', '-B', target, '-p', String(IPERF_PORT)], /listening/i);
      try {
        const c = await runChecked(
          'nsenter',
          nsenter(clientNs, ['iperf3', '-c', target, '-p', String(IPERF_PORT), '-t', String(IPERF_SECONDS), '-J']),
          { timeoutMs: (IPERF_SECONDS + 20) * 1000 },
        );
        const json = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
        gbits.push(json.end.sum_received.bits_per_second / 1e9);
      } finally {
        await stop(iperfServer);
      }
    }
    return { pingMs: median(pings), gbits: median(gbits), rrPerSec: median(rrs) };
  } finally {
    await stop(rrServer);
  }
}

async function main(): Promise<void> {
  const run = randomSuffix();
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-netbench-'));
  const netnsDir = `/run/hedge/bench-${run}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const results: [string, Measurement][] = [];
  try {
    const hostNs = `${netnsDir}/host`;
    await createNetns(hostNs);
    cleanups.push(() => removeNetns(hostNs));
    const host = await measure(hostNs, hostNs, '127.0.0.1');
    results.push(['host (loopback, one netns)', host]);

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
      results.push([label, await measure(a.netnsPath, b.netnsPath, ra.ips[0].address)]);
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch((e: unknown) => console.error('cleanup:', e));
    await rm(netnsDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
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
