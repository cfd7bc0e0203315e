/**
 * One pod create through the API, POST → its 201 answer, against `hedge server` (SQLite) alone:
 * N runc pods created one after another (as bench/pod-start.ts does), each answer timed, p50/p99;
 * with `--bin` of another checkout alternated in the same run (each build its own server, one
 * round of N pods per build, rounds ABAB...), so both see the same load. With a watcher on the
 * pods (as the scheduler and the bench's own watch are) unless `--no-watch`. Prints a markdown
 * table with the server's CPU time per create (robust where the latencies follow the machine's load)
 * and the load average; asserts nothing.
 *   node --import tsx bench/pod-create.ts [--pods 200] [--rounds 2] [--bin /other/tree/bin/hedge.js]
 *        [--cpu-prof DIR] (this tree's server under --cpu-prof, profiles into DIR) [--fresh] [--no-node] [--no-watch]
 *        [--write-path] (the pods name a scheduler nobody runs; after the creates the bench binds each
 *        one through pods/binding, as the scheduler does, then PATCHes its first status through
 *        pods/status, a strategic merge patch shaped as the agent's statusPatch(): each step timed and
 *        its server CPU per request printed in a table of its own)
 *        [--audit none,Metadata,RequestResponse] (this tree under each audit level, alternated like
 *        builds: one policy rule of that level for every request, the log in the data dir; `none` =
 *        no auditing)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/e2e/harness.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '2' },
    bin: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'no-watch': { type: 'boolean', default: false },
    'no-node': { type: 'boolean', default: false },
    /** a new TLS connection per create (what bench/pod-start.ts paid before its harness sent DELETE bodies with a length) */
    fresh: { type: 'boolean', default: false },
    audit: { type: 'string' },
    'write-path': { type: 'boolean', default: false },
  },
});
const N = Number(values.pods);
const WRITE_PATH = values['write-path'];
const ROUNDS = Number(values.rounds);

interface Server {
  url: string;
  agent: Agent;
  /** the audit log's size when stopped (bytes), if auditing */
  auditBytes?: number;
  /** the server process's CPU time so far (user + system, ms; from /proc, 10 ms ticks) */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(bin: string, execArgv: string[], auditLevel?: string): Promise<Server> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hedge-podcreate-'));
  const auditArgs: string[] = [];
  if (auditLevel && auditLevel !== 'none') {
    await writeFile(join(dataDir, 'audit-policy.yaml'), `apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: ${auditLevel}\n`);
    auditArgs.push('--audit-policy-file', join(dataDir, 'audit-policy.yaml'), '--audit-log-path', join(dataDir, 'audit.log'));
  }
  const child = spawn(process.execPath, [...execArgv, bin, 'server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--store', 'sqlite', '--log-level', 'warn', ...auditArgs], {
    cwd: resolve(bin, '..', '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (d: Buffer) => {
    if (d.includes('SPAN')) process.stderr.write(d);
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  while (!(url = /hedge server ready at (https:\/\/\S+)/.exec(out)?.[1])) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pki = join(dataDir, 'pki');
  const [ca, cert, key] = await Promise.all(['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
  const agent = new Agent({ keepAlive: !values.fresh, ca, cert, key, maxSockets: 4 });
  const server: Server = {
    url,
    agent,
    async cpuMs() {
      const f = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      // fields 14 and 15 (utime, stime) of stat(5), counted after the `(comm)` field
      return (Number(f[11]) + Number(f[12])) * 10;
    },
    async stop() {
      agent.destroy();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      if (auditArgs.length) server.auditBytes = (await stat(join(dataDir, 'audit.log'))).size;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

function call(s: Server, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; text: string }> {
  const u = new URL(path, s.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((res, rej) => {
    const req = request(
      { method, host: u.hostname, port: u.port, path: u.pathname + u.search, agent: s.agent, headers: { accept: 'application/json', ...(payload ? { 'content-type': contentType } : {}) } },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => res({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        r.on('error', rej);
      },
    );
    req.on('error', rej);
    req.end(payload);
  });
}

/** a watch on the pods, drained, as the scheduler's and pod-start's are; resolves its stopper */
function watchPods(s: Server): () => void {
  const u = new URL('/api/v1/namespaces/default/pods?watch=1', s.url);
  const req = request({ method: 'GET', host: u.hostname, port: u.port, path: u.pathname + u.search, agent: s.agent, headers: { accept: 'application/json' } }, (r) => {
    r.on('data', () => {});
    r.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  return () => req.destroy();
}

/**
 * A Ready Node object (no agent behind it) the scheduler binds the pods to, so each create is
 * followed by its binding as in a real cluster (an unschedulable pod gets a status patch instead)
 */
async function addNode(s: Server): Promise<void> {
  const name = 'bench-node';
  const r = await call(s, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
  if (r.status !== 201) throw new Error(`node: ${r.status} ${r.text}`);
  const node = JSON.parse(r.text) as { status?: unknown };
  const cap = { cpu: '64', memory: '256Gi', pods: '10000' };
  node.status = { capacity: cap, allocatable: cap, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }] };
  const u = await call(s, 'PUT', `/api/v1/nodes/${name}/status`, node);
  if (u.status !== 200) throw new Error(`node status: ${u.status} ${u.text}`);
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

interface Step {
  t: number[];
  cpuMs: number;
}

async function round(bin: string, execArgv: string[], tag: string, auditLevel?: string): Promise<{ t: number[]; auditBytes?: number; cpuMs: number; steps: Record<string, Step> }> {
  const s = await startServer(bin, execArgv, auditLevel);
  const cpu = { ms: 0 };
  const steps: Record<string, Step> = {};
  const t = await timedCreates(s, tag, cpu, steps);
  return { t, auditBytes: s.auditBytes, cpuMs: cpu.ms, steps };
}

/** N requests one after another, each timed, and the server's CPU for them all */
async function timedStep(s: Server, tag: string, what: string, want: number, req: (i: number) => [string, string, unknown, string?]): Promise<Step> {
  const t: number[] = [];
  const cpu0 = await s.cpuMs();
  for (let i = 0; i < N; i++) {
    const [method, path, body, contentType] = req(i);
    const t0 = performance.now();
    const r = await call(s, method, path, body, contentType);
    t.push(performance.now() - t0);
    if (r.status !== want) throw new Error(`${tag} ${what}: ${r.status} ${r.text}`);
  }
  return { t, cpuMs: (await s.cpuMs()) - cpu0 };
}

/** the first status the agent writes for a pod it started (pod-status.ts' statusPatch(): own conditions, podIPs replaced) */
function firstStatus(i: number): unknown {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const ip = `10.88.${(i >> 8) & 255}.${i & 255}`;
  const cond = (type: string, status: string) => ({ type, status, lastProbeTime: null, lastTransitionTime: now });
  return {
    status: {
      phase: 'Running',
      conditions: [cond('PodReadyToStartContainers', 'True'), cond('Initialized', 'True'), cond('Ready', 'True'), cond('ContainersReady', 'True')],
      hostIP: '10.0.0.1',
      hostIPs: [{ ip: '10.0.0.1' }, { $patch: 'replace' }],
      podIP: ip,
      podIPs: [{ ip }, { $patch: 'replace' }],
      startTime: now,
      qosClass: 'BestEffort',
      containerStatuses: [
        { name: 'c', state: { running: { startedAt: now } }, lastState: {}, ready: true, restartCount: 0, image: 'docker.io/library/busybox:latest', imageID: 'docker.io/library/busybox@sha256:' + '0'.repeat(64), containerID: `containerd://${String(i).padStart(64, '0')}`, started: true },
      ],
    },
  };
}

async function timedCreates(s: Server, tag: string, cpu: { ms: number }, steps: Record<string, Step>): Promise<number[]> {
  const stopWatch = values['no-watch'] ? () => {} : watchPods(s);
  try {
    if (!values['no-node']) await addNode(s);
    // warm-up: connections, JIT, the RuntimeClass and namespace caches
    for (let i = 0; i < 20; i++) {
      const r = await call(s, 'POST', '/api/v1/namespaces/default/pods', pod(`warm-${i}`));
      if (r.status !== 201) throw new Error(`${tag}: ${r.status} ${r.text}`);
      if (WRITE_PATH) {
        const b = await call(s, 'POST', `/api/v1/namespaces/default/pods/warm-${i}/binding`, binding(`warm-${i}`));
        if (b.status !== 201) throw new Error(`${tag} warm binding: ${b.status} ${b.text}`);
        const p = await call(s, 'PATCH', `/api/v1/namespaces/default/pods/warm-${i}/status`, firstStatus(i), 'application/strategic-merge-patch+json');
        if (p.status !== 200) throw new Error(`${tag} warm status: ${p.status} ${p.text}`);
      }
    }
    const t: number[] = [];
    const cpu0 = await s.cpuMs();
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const r = await call(s, 'POST', '/api/v1/namespaces/default/pods', pod(`pc-${i}`));
      t.push(performance.now() - t0);
      if (r.status !== 201) throw new Error(`${tag}: ${r.status} ${r.text}`);
    }
    // the server's CPU for the creates and what they set off (the scheduler's binds, the watch)
    cpu.ms = (await s.cpuMs()) - cpu0;
    if (WRITE_PATH) {
      steps.binding = await timedStep(s, tag, 'binding', 201, (i) => ['POST', `/api/v1/namespaces/default/pods/pc-${i}/binding`, binding(`pc-${i}`)]);
      steps['status PATCH'] = await timedStep(s, tag, 'status', 200, (i) => ['PATCH', `/api/v1/namespaces/default/pods/pc-${i}/status`, firstStatus(i), 'application/strategic-merge-patch+json']);
    }
    if (!values['no-node'] && !WRITE_PATH) {
      const l = await call(s, 'GET', '/api/v1/namespaces/default/pods');
      const items = (JSON.parse(l.text) as { items: { spec: { nodeName?: string } }[] }).items;
      const bound = items.filter((p) => p.spec.nodeName).length;
      if (bound < items.length / 2) throw new Error(`${tag}: only ${bound} of ${items.length} pods bound: the scheduler did not take the bench node`);
    }
    return t;
  } finally {
    stopWatch();
    await s.stop();
  }
}

const binding = (name: string): unknown => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: 'bench-node' } });

const pod = (name: string): unknown => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { runtimeClassName: 'runc', ...(WRITE_PATH ? { schedulerName: 'bench-write-path' } : {}), terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: 'busybox:latest', command: ['sleep', '3600'] }] },
});

const own = join(REPO_ROOT, 'bin', 'hedge.js');
const builds: [string, string, string[], string?][] = [['this tree', own, values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : []]];
if (values.bin) builds.unshift(['other (--bin)', values.bin, []]);
if (values.audit) {
  builds.length = 0;
  for (const level of values.audit.split(',')) builds.push([level === 'none' ? 'no audit' : `audit ${level}`, own, [], level]);
}
const rows: string[] = [];
const stepRows: string[] = [];
for (let r = 0; r < ROUNDS; r++) {
  // alternate the order each round (ABC, CBA, ...) so no setting always runs first
  for (const [tag, bin, argv, level] of r % 2 === 0 ? builds : [...builds].reverse()) {
    const load = loadavg()[0].toFixed(1);
    const { t, auditBytes, cpuMs, steps } = await round(bin, argv, tag, level);
    for (const [what, st] of Object.entries(steps)) {
      stepRows.push(`| ${r + 1} | ${tag} | ${what} | ${N} | ${pct(st.t, 50).toFixed(2)} | ${pct(st.t, 90).toFixed(2)} | ${(st.cpuMs / N).toFixed(2)} | ${loadavg()[0].toFixed(1)} |`);
    }
    const audit = values.audit ? ` ${auditBytes === undefined ? '–' : (auditBytes / 1024).toFixed(0)} |` : '';
    rows.push(`| ${r + 1} | ${tag} | ${N} | ${pct(t, 50).toFixed(2)} | ${pct(t, 90).toFixed(2)} | ${pct(t, 99).toFixed(2)} | ${(cpuMs / N).toFixed(2)} | ${load}–${loadavg()[0].toFixed(1)} |${audit}`);
  }
}
console.log(`\n### pod create, POST → 201 (runc pods one after another${values['no-watch'] ? '' : ', one pod watch open'}${values['no-node'] ? '' : WRITE_PATH ? ', a Ready Node object, bound by the bench after' : ', bound by the scheduler to a Ready Node object'}, ${values.fresh ? 'a new TLS connection each' : 'one kept-alive connection'})\n`);
console.log(`| round | build | n | p50 ms | p90 ms | p99 ms | server CPU ms/create | load |${values.audit ? ' audit log KiB |' : ''}`);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |${values.audit ? ' --- |' : ''}`);
for (const r of rows) console.log(r);
if (stepRows.length) {
  console.log('\n### binding POST and first status PATCH (strategic merge), one after another per step\n');
  console.log('| round | build | request | n | p50 ms | p90 ms | server CPU ms/request | load after |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of stepRows) console.log(r);
}
