/**
 * The CPU the edge hub's cloud health costs the node while its tunnel is up and quiet: a real
 * apiserver (TLS, its tunnel endpoint) in this process, and in a child process, with the V8 flags
 * bin/hedge.js gives `hedge node`, the node's tunnel client and the hub's health loop
 * (CloudHealth over linkFirstProbe, as startHub wires it) from one checkout's sources, bundled with
 * esbuild as `npm run build` bundles them. Each checkout's child asks the apiserver for the
 * heartbeat (HEARTBEAT_MS; a checkout without it ignores the option and pings every 500 ms). Beside
 * it the same tunnel without the health loop (the floor: the tunnel's keepalive, and the heartbeat
 * where it asked for one and it was granted). Rows are
 * interleaved, a round per checkout in turn; the child's CPU (process.cpuUsage) is taken over
 * `--secs` after `--warm` seconds. Prints a table with the load; asserts nothing.
 * Run: node --import tsx bench/tunnel-health.ts [--baseline DIR]... [--rounds 3] [--secs 30] [--warm 8]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCa, generateServingCert } from '../src/apiserver/auth/pki.ts';
import { startTestServer } from '../src/apiserver/testing/test-server.ts';
import { HEARTBEAT_MS } from '../src/edgehub/cloud-health.ts';
import { REPO_ROOT } from '../test/e2e/harness.ts';
import { printTable } from './apiserver-seed.ts';
import { launcherNodeFlags } from './lib/built-agent.ts';

const { values } = parseArgs({ options: { baseline: { type: 'string', multiple: true }, rounds: { type: 'string', default: '3' }, secs: { type: 'string', default: '30' }, warm: { type: 'string', default: '8' } } });
const rounds = Number(values.rounds);
const secs = Number(values.secs);
const warm = Number(values.warm);

/** the child: the node's side of the tunnel, and the hub's health loop over it unless `mode` is 'tunnel' */
const childSource = (root: string): string => `
import { Socket } from 'node:net';
import { startTunnelClient } from '${root}/src/edgehub/tunnel/index.ts';
import { CloudHealth, linkFirstProbe } from '${root}/src/edgehub/cloud-health.ts';
import { silentLogger } from '${root}/src/lib/log.ts';
const [url, mode, secs, warm, heartbeatMs] = process.argv.slice(2);
const stop = new AbortController();
const tunnel = startTunnelClient({ server: url, nodeName: 'edge-1', token: 'node-edge-1', ca: process.env.HEDGE_BENCH_CA, connectLocal: () => new Socket(), logger: silentLogger(), heartbeatMs: Number(heartbeatMs) }, stop.signal);
await tunnel.waitConnected(AbortSignal.timeout(10_000));
let pings = 0;
const wrapped = new WeakMap();
const link = () => {
  const l = tunnel.link();
  if (!l) return undefined;
  if (!wrapped.has(l)) wrapped.set(l, new Proxy(l, { get: (t, k) => (k === 'alive' ? (ms, s) => (pings++, t.alive(ms, s)) : typeof t[k] === 'function' ? t[k].bind(t) : t[k]) }));
  return wrapped.get(l);
};
const health = mode === 'health' ? new CloudHealth({ probe: linkFirstProbe(link, { probe: async () => false, close: async () => undefined }, 1_000), logger: silentLogger(), onChange: () => undefined }) : undefined;
health?.start();
await new Promise((r) => setTimeout(r, Number(warm) * 1000));
const c0 = process.cpuUsage();
const p0 = pings;
await new Promise((r) => setTimeout(r, Number(secs) * 1000));
const c = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({ msPerS: (c.user + c.system) / 1000 / Number(secs), pingsPerS: (pings - p0) / Number(secs), online: health ? health.state === 'online' : undefined, heartbeat: tunnel.link()?.peerHeartbeatMs ?? null }));
process.exit(0);
`;

const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-tunnel-health-'));
const checkouts = [...(values.baseline ?? []), REPO_ROOT];
const bundles = new Map<string, string>();
for (const [i, root] of checkouts.entries()) {
  const entry = join(tmp, `child-${i}.ts`);
  writeFileSync(entry, childSource(root));
  const out = join(tmp, `child-${i}.mjs`);
  execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'esbuild'), [entry, '--bundle', '--platform=node', '--format=esm', '--target=node20', `--outfile=${out}`, '--log-level=warning', "--banner:js=import { createRequire } from 'module'; const require = createRequire(import.meta.url);"], { stdio: 'inherit' });
  bundles.set(root, out);
}

const ca = await generateCa();
const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
const t = await startTestServer({ tls: { cert: serving.cert, key: serving.key, clientCa: ca.cert } });
const nodeFlags = launcherNodeFlags().split(/\s+/).filter(Boolean);
type Result = { msPerS: number; pingsPerS: number; online?: boolean; heartbeat: number | null };
const run = (root: string, mode: 'health' | 'tunnel'): Promise<Result> =>
  new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...nodeFlags, bundles.get(root)!, t.url, mode, String(secs), String(warm), String(HEARTBEAT_MS)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HEDGE_BENCH_CA: ca.cert } });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`child exited ${code}: ${out}`))));
  });

const rows = new Map<string, { ms: number[]; pings: number[]; loads: string[]; note: string }>();
try {
  for (let r = 0; r < rounds; r++) {
    for (const root of checkouts) {
      for (const mode of ['health', 'tunnel'] as const) {
        const key = `${root === REPO_ROOT ? 'this checkout' : root} | ${mode === 'health' ? 'tunnel + hub health' : 'tunnel alone'}`;
        const res = await run(root, mode);
        const row = rows.get(key) ?? { ms: [], pings: [], loads: [], note: '' };
        row.ms.push(res.msPerS);
        row.pings.push(res.pingsPerS);
        row.loads.push(loadavg()[0]!.toFixed(1));
        if (mode === 'health') row.note = `heartbeat ${res.heartbeat ?? 'none'}${res.online === false ? ', NOT online' : ''}`;
        rows.set(key, row);
        process.stderr.write(`${key}: ${res.msPerS.toFixed(2)} ms/s (load ${loadavg()[0]!.toFixed(1)})\n`);
      }
    }
  }
} finally {
  await t.close();
  rmSync(tmp, { recursive: true, force: true });
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
printTable(`tunnel health: the node side's CPU (ms per second; 10 = 1 % of a core), ${rounds} interleaved rounds of ${secs} s, node flags ${nodeFlags.join(' ')}`, [
  ['checkout | what', 'CPU ms/s median', 'per round', 'health pings/s', 'load (1 min) per round', ''],
  ...[...rows].map(([k, v]) => [k, median(v.ms).toFixed(2), v.ms.map((x) => x.toFixed(2)).join(', '), median(v.pings).toFixed(2), v.loads.join(', '), v.note]),
]);
