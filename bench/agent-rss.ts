/**
 * RSS of the `hedge node` process idle and with 20 running runc pods, through the real stack. That
 * one process holds the agent and the in-process edgehub (its replica apiserver over the local
 * SQLite replica and journal, src/edgehub/), so the figure is "agent + hub". Beside RSS, the V8
 * heap in use and the memory held outside it (Buffers, ArrayBuffers) as the node's own `/metrics`
 * reports them (prom-client's nodejs_heap_size_used_bytes / nodejs_external_memory_bytes, read
 * through the apiserver's nodes/proxy) right after the RSS samples. The node runs the `npm run build`
 * bundle with the V8 flags bin/hedge.js's launcher line gives the node role, on node's command line
 * as the launcher puts them (rebuilt and restarted until the bundle is current). Then it is
 * restarted over the running pods (it adopts them) once per variant given and once more as
 * shipped, so launch options, or another checkout's build (the baseline: e.g. main), are compared
 * in one run. conmon RSS is shown beside it, since it is per-pod host overhead too. Prints a
 * markdown table with the load; asserts nothing. Needs root.
 * Run: node --import tsx bench/agent-rss.ts [pods=20] ["checkout=/tmp/main;--max-semi-space-size=1 --optimize-for-size;MALLOC_ARENA_MAX=2"]
 *   variants are `;`-separated; each is node flags (the launcher's for `hedge node` when none are
 *   given), optionally with VAR=value env settings (only those: the launcher's environment is not
 *   added) and checkout=DIR: run DIR's bundle, built here
 *   with DIR's own scripts/build.mjs (a git worktree or `git archive` of the baseline, with node_modules)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { edgeNodeSkipReason } from '../test/e2e/node-harness.ts';
import { launcherNodeEnv, launcherNodeFlags, runBuiltAgent } from './lib/built-agent.ts';

const pods = Number(process.argv[2] ?? 20);
const variants = (process.argv[3] ?? '').split(';').map((v) => v.trim()).filter(Boolean);
const skip = edgeNodeSkipReason(['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/bin/busybox']);
if (skip) {
  console.log(`agent-rss bench skipped: ${skip}`);
  process.exit(0);
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
const mib = (kib: number): string => (kib / 1024).toFixed(1);
/** CPU time (user + system) the process has used since it started, ms */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // fields 14 and 15 of stat(5), counted after the command name; clock ticks of 10 ms
  return (Number(f[11]) + Number(f[12])) * 10;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** environment variables the last variant set */
const envSet: string[] = [];
/** env and node flags for the node's next start (the harness reads them at each start): see the header */
function launchWith(variant: string): string {
  const words = variant.split(/\s+/).filter(Boolean);
  const env = words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w));
  const checkout = words.find((w) => w.startsWith('checkout='))?.slice('checkout='.length);
  const flags = words.filter((w) => !env.includes(w) && !w.startsWith('checkout='));
  for (const k of envSet.splice(0)) delete process.env[k];
  for (const kv of env) {
    envSet.push(kv.slice(0, kv.indexOf('=')));
    const i = kv.indexOf('=');
    process.env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  process.env.HEDGE_E2E_NODE_FLAGS = (flags.length ? flags : [productFlags]).join(' ');
  if (checkout) {
    execFileSync(process.execPath, [join(checkout, 'scripts', 'build.mjs')], { cwd: checkout, stdio: 'ignore' });
    process.env.HEDGE_E2E_NODE_BIN = join(checkout, 'dist', 'main.js');
  } else {
    delete process.env.HEDGE_E2E_NODE_BIN;
  }
  return checkout ? `${checkout} bundle; ${[...env, ...flags].join(' ') || product}` : [...env, process.env.HEDGE_E2E_NODE_FLAGS].join(' ');
}

/** max RSS of five samples a second apart, after `settleMs`, and the node's CPU (% of a core) over those five seconds */
async function sample(pid: number, settleMs: number): Promise<[string, string]> {
  await sleep(settleMs);
  const samples: number[] = [];
  const cpu0 = cpuMs(pid);
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) {
    samples.push(rssKiB(pid));
    await sleep(1_000);
  }
  return [mib(Math.max(...samples)), ((100 * (cpuMs(pid) - cpu0)) / (Date.now() - t0)).toFixed(1)];
}

/** heapUsed and external MiB of the running node, from its /metrics through nodes/proxy */
async function heapOf(api: (m: string, p: string) => Promise<{ status: number; body: unknown }>, node: string): Promise<[string, string]> {
  const r = await api('GET', `/api/v1/nodes/${node}/proxy/metrics`);
  if (r.status !== 200 || typeof r.body !== 'string') return ['?', '?'];
  const text = r.body;
  const metric = (name: string): string => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? (Number(m[1]) / 1048576).toFixed(1) : '?';
  };
  return [metric('nodejs_heap_size_used_bytes'), metric('nodejs_external_memory_bytes')];
}

const productFlags = launcherNodeFlags();
/** the node as bin/hedge.js launches it: its environment and V8 flags */
const product = [...launcherNodeEnv(), productFlags].join(' ');
const nodeName = `rss-${process.pid}`;
const stack = await startEdgeStack({ nodes: [{ name: nodeName, runtimes: ['runc'] }] });
const rows: string[][] = [];
let build: string;
try {
  const api = stack.server.api;
  launchWith(product);
  build = await runBuiltAgent(stack.node, true);
  // registration and the first status settle before the idle sample
  const [idleRss, idleCpu] = await sample(stack.node.pid(), 3_000);
  rows.push([`idle, 0 pods`, product, idleRss, ...(await heapOf(api, nodeName)), String(cpuMs(stack.node.pid())), idleCpu, '-']);
  for (let i = 0; i < pods; i++) {
    const r = await api('POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `rss-${i}` },
      spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: stack.busyboxImage, command: ['sleep', '3600'] }] },
    });
    if (r.status !== 201) throw new Error(`create rss-${i}: ${r.status}`);
  }
  const deadline = Date.now() + 180_000;
  for (;;) {
    const list = (await api('GET', '/api/v1/namespaces/default/pods')).body as { items: Pod[] };
    if (list.items.filter((p) => p.status?.phase === 'Running').length === pods) break;
    if (Date.now() > deadline) throw new Error('pods not Running in 180 s');
    await sleep(200);
  }
  const conmons = (await stack.node.hostState()).conmonPids;
  const conmonTotal = conmons.reduce((s, p) => s + rssKiB(p), 0);
  // a few resync passes with everything running, then sample
  const [podsRss, podsCpu] = await sample(stack.node.pid(), 5_000);
  rows.push([`${pods} running runc pods, created by this agent`, product, podsRss, ...(await heapOf(api, nodeName)), String(cpuMs(stack.node.pid())), podsCpu, `${mib(conmonTotal)} total over ${conmons.length} conmon`]);
  for (const v of [product, ...variants, product]) {
    // a variant that kills the node is a row of the table, not the end of the run
    let label = v;
    try {
      label = launchWith(v);
      const b = await runBuiltAgent(stack.node, false);
      if (b !== 'dist bundle') build = b;
      const [rss, cpu] = await sample(stack.node.pid(), 5_000);
      rows.push([`restarted, ${pods} pods adopted`, label, rss, ...(await heapOf(api, nodeName)), String(cpuMs(stack.node.pid())), cpu, '-']);
    } catch (err) {
      rows.push([`restarted, ${pods} pods adopted`, label, `node did not stay up: ${String(err).slice(0, 80)}`, '-', '-', '-', '-', '-']);
    }
  }
} finally {
  await stack.close();
}

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`\n### hedge node (agent + in-process hub) resident memory\n\nnode: ${build}; load ${load}; RSS: max of 5 samples 1 s apart; heap/external: the node's /metrics after them; CPU: user + system of the node process from its start (start, adoption or pod creation, the samples), and over the five sampled seconds (steady state)\n`);
console.log('| state | node flags / env | node RSS MiB | V8 heap used MiB | external MiB | node CPU ms since its start | node CPU % of a core while sampled | conmon RSS MiB |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log('\nTarget (docs/targets.md): agent + hub ≤ 80 MB with 20 running pods (EdgeCore ~70 MB, k3s agent ~275 MB).');
