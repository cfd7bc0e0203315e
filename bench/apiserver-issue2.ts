/**
 * Issue 2 in one table: `hedge server` (SQLite) with 100 nodes + 1,000 pods.
 *   - `kubectl get pods -A` (whole command) against hedge, and against a peer: a static HTTPS
 *     server replaying the very bytes hedge answered (recorded on a warm-up run), which isolates
 *     kubectl's own cost (process start, TLS, decoding, printing) from the server's;
 *   - the server side of that list: raw HTTPS GETs, JSON and the Table pages kubectl asks for;
 *   - write throughput through the API with N concurrent clients;
 *   - watch fan-out: W watchers, time from a create to the last watcher having the event;
 *   - server RSS idle, seeded.
 * Prints the table; asserts nothing (docs/targets.md holds the targets).
 *   node --import tsx bench/apiserver-issue2.ts [--pods 1000] [--nodes 100] [--runs 30]
 *        [--writes 4000] [--clients 16,64] [--watchers 1000] [--watch-writes 10]
 */
import { setMaxListeners } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { findKubectl, startHedgeServer, type HedgeServer } from '../test/e2e/harness.ts';
import { printTable, rssMiB, seed, summarize } from './apiserver-seed.ts';
import { launcherServerFlags } from './lib/launcher-flags.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '1000' },
    nodes: { type: 'string', default: '100' },
    runs: { type: 'string', default: '30' },
    writes: { type: 'string', default: '4000' },
    clients: { type: 'string', default: '16,64' },
    watchers: { type: 'string', default: '1000' },
    'watch-writes': { type: 'string', default: '10' },
  },
});
const PODS = Number(values.pods);
const NODES = Number(values.nodes);
const RUNS = Number(values.runs);
const WRITES = Number(values.writes);
const CLIENT_COUNTS = values.clients.split(',').map(Number);
const CLIENTS = Math.max(...CLIENT_COUNTS);
const WATCHERS = Number(values.watchers);
const WATCH_WRITES = Number(values['watch-writes']);
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(opts: RequestOptions & { body?: string }): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function timed(runs: number, fn: () => Promise<void>): Promise<number[]> {
  await fn(); // warm-up: discovery cache, JIT, the peer's recording
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    await fn();
    out.push(performance.now() - a);
  }
  return out;
}

/**
 * The peer: an HTTPS server with hedge's serving certificate that forwards a request it has not
 * seen to hedge once, then answers it from memory with the recorded status, headers and bytes.
 */
async function startReplayPeer(s: HedgeServer, tls: { ca: string; cert: string; key: string; serverCert: string; serverKey: string }) {
  const upstream = new URL(s.url);
  const agent = new Agent({ keepAlive: true, ca: tls.ca, cert: tls.cert, key: tls.key });
  const recorded = new Map<string, Raw>();
  const server = createServer({ cert: tls.serverCert, key: tls.serverKey }, (req, res) => {
    const key = `${req.method} ${req.url} ${req.headers.accept ?? ''}`;
    const hit = recorded.get(key);
    const answer = (r: Raw): void => {
      const headers = { ...r.headers };
      delete headers['transfer-encoding'];
      delete headers.connection;
      delete headers['keep-alive'];
      headers['content-length'] = String(r.body.length);
      res.writeHead(r.status, headers);
      res.end(r.body);
    };
    if (hit) {
      answer(hit);
      return;
    }
    get({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, agent, headers: { accept: req.headers.accept ?? '*/*' } }).then(
      (r) => {
        recorded.set(key, r);
        answer(r);
      },
      (err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

// The harness runs `node bin/hedge.js`, which skips the launcher's shebang flags; pass the same
// V8 flags the `hedge` command runs with, so RSS is what a user gets.
const savedNodeOptions = process.env.NODE_OPTIONS;
process.env.NODE_OPTIONS = [savedNodeOptions, launcherServerFlags()].filter(Boolean).join(' ');
const s = await startHedgeServer({ store: 'sqlite' });
if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
else process.env.NODE_OPTIONS = savedNodeOptions;
const rows: (string | number)[][] = [['measure', 'p50', 'p99', 'peer p50', 'peer p99', 'target']];
const ms = (v: number): string => `${v.toFixed(1)} ms`;
const addLatency = (name: string, samples: number[], peer: number[] | undefined, target: string): void => {
  const a = summarize(samples);
  const b = peer ? summarize(peer) : undefined;
  rows.push([name, ms(a.p50), ms(a.p99), b ? ms(b.p50) : '', b ? ms(b.p99) : '', target]);
};
const notes: string[] = [];
const controller = new AbortController();
setMaxListeners(WATCHERS + 100, controller.signal);
let peer: Awaited<ReturnType<typeof startReplayPeer>> | undefined;
let watchAgent: Agent | undefined;
try {
  const pki = join(s.dataDir, 'pki');
  const [ca, cert, key, serverCert, serverKey] = await Promise.all(
    ['ca.crt', 'admin.crt', 'admin.key', 'apiserver.crt', 'apiserver.key'].map((f) => readFile(join(pki, f), 'utf8')),
  );
  const u = new URL(s.url);
  const agent = new Agent({ keepAlive: true, ca, cert, key, maxSockets: Math.max(CLIENTS, 16) });
  const rssEmpty = await rssMiB(s.pid);

  const t0 = performance.now();
  await seed(s, { nodes: NODES, pods: PODS });
  notes.push(`seeding ${NODES} nodes + ${PODS} pods: ${((performance.now() - t0) / 1000).toFixed(1)} s over HTTPS, 8 in flight`);
  // idle: no requests for a while, so V8's idle-time GC has run (what an idle control plane holds)
  await new Promise((r) => setTimeout(r, 8000));
  const rssIdle = await rssMiB(s.pid);

  // server side of the list: raw HTTPS GETs, the body read but not parsed
  const rawGet = async (path: string, accept: string): Promise<Raw> => {
    const r = await get({ host: u.hostname, port: u.port, path, agent, headers: { accept } });
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
    return r;
  };
  addLatency(`GET /api/v1/pods, JSON, all ${PODS} (raw HTTPS)`, await timed(RUNS, async () => void (await rawGet('/api/v1/pods', 'application/json'))), undefined, '');
  const tablePages = async (): Promise<void> => {
    let cont = '';
    do {
      const r = await rawGet(`/api/v1/pods?limit=500${cont ? `&continue=${cont}` : ''}`, TABLE_ACCEPT);
      cont = (JSON.parse(r.body.toString()) as { metadata: { continue?: string } }).metadata.continue ?? '';
    } while (cont);
  };
  addLatency('GET /api/v1/pods as Table, 500/page (what kubectl asks)', await timed(RUNS, tablePages), undefined, '');

  const kubectl = findKubectl();
  if (kubectl !== undefined) {
    peer = await startReplayPeer(s, { ca, cert, key, serverCert, serverKey });
    const peerKubeconfig = join(s.dataDir, 'kubeconfig-peer');
    await writeFile(peerKubeconfig, (await readFile(s.kubeconfig, 'utf8')).replace(s.url, peer.url));
    const getPods = (env?: Record<string, string>) => async (): Promise<void> => {
      const r = await s.kubectl(['get', 'pods', '-A', '--no-headers'], { env });
      if (r.code !== 0) throw new Error(r.stderr);
      if (r.stdout.split('\n').filter((l) => l.trim() !== '').length !== PODS) throw new Error('kubectl printed the wrong number of pods');
    };
    const version = (env?: Record<string, string>) => async (): Promise<void> => void (await s.kubectl(['version', '-o', 'json'], { env }));
    const peerEnv = { KUBECONFIG: peerKubeconfig };
    // interleaved would be fairer still, but the peer must record first; runs alternate in blocks
    addLatency('kubectl get pods -A (whole command) | peer: static replay', await timed(RUNS, getPods()), await timed(RUNS, getPods(peerEnv)), '< 150 ms');
    addLatency('kubectl version (process + TLS floor) | peer: static replay', await timed(Math.ceil(RUNS / 2), version()), await timed(Math.ceil(RUNS / 2), version(peerEnv)), '');
  } else notes.push('no kubectl on this machine: kubectl rows skipped');

  const rssAfterLists = await rssMiB(s.pid);

  // write throughput: CLIENTS concurrent creates over keep-alive HTTPS
  const ns = await s.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-w' } });
  if (ns.status !== 201) throw new Error(`namespace: ${ns.status}`);
  for (const [round, clients] of CLIENT_COUNTS.entries()) {
    const lat: number[] = [];
    const tw = performance.now();
    await pool(WRITES, clients, async (i) => {
      const a = performance.now();
      const r = await get({
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: '/api/v1/namespaces/bench-w/configmaps',
        agent,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${round}-${i}`, labels: { i: String(i % 10) } }, data: { k: `v${i}` } }),
      });
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body.toString().slice(0, 200)}`);
      lat.push(performance.now() - a);
    });
    const writeSec = (performance.now() - tw) / 1000;
    const wl = summarize(lat);
    rows.push([`writes through the API, ${clients} clients (objects/s)`, `${(WRITES / writeSec).toFixed(0)} /s`, '', '', '', '>= 2000 /s']);
    rows.push([`  create latency at ${clients} clients`, ms(wl.p50), ms(wl.p99), '', '', '']);
  }

  // watch fan-out
  watchAgent = new Agent({ keepAlive: true, ca, cert, key, maxSockets: WATCHERS + 10 });
  await s.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-watch' } });
  const listed = JSON.parse((await rawGet('/api/v1/namespaces/bench-watch/pods', 'application/json')).body.toString()) as { metadata: { resourceVersion: string } };
  const waiting: Map<string, () => void>[] = [];
  const opened: Promise<void>[] = [];
  const tOpen = performance.now();
  for (let i = 0; i < WATCHERS; i++) {
    const wait = new Map<string, () => void>();
    waiting.push(wait);
    opened.push(
      new Promise<void>((resolve, reject) => {
        const req = request(
          { host: u.hostname, port: u.port, path: `/api/v1/namespaces/bench-watch/pods?watch=1&resourceVersion=${listed.metadata.resourceVersion}`, agent: watchAgent, signal: controller.signal },
          (res) => {
            if (res.statusCode !== 200) reject(new Error(`watch ${i}: ${res.statusCode}`));
            resolve();
            let buf = '';
            res.on('data', (d: Buffer) => {
              buf += d.toString();
              let nl: number;
              while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                // the pod name is all we need; skip a full JSON.parse per watcher per event
                const name = /"name":"([^"]+)"/.exec(line)?.[1];
                if (name !== undefined && line.startsWith('{"type":"ADDED"')) wait.get(name)?.();
              }
            });
            res.on('error', () => undefined);
          },
        );
        req.on('error', (e) => {
          if (!controller.signal.aborted) reject(e);
        });
        req.end();
      }),
    );
  }
  await Promise.all(opened);
  const openMs = performance.now() - tOpen;
  const rssWatching = await rssMiB(s.pid);
  const fan: number[] = [];
  for (let wi = 0; wi < WATCH_WRITES; wi++) {
    const name = `p-${wi}`;
    const start = performance.now();
    const all = Promise.all(waiting.map((w) => new Promise<void>((resolve) => w.set(name, resolve))));
    const r = await s.api('POST', '/api/v1/namespaces/bench-watch/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'bench-watch' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    if (r.status !== 201) throw new Error(`create: ${r.status}`);
    await all;
    fan.push(performance.now() - start);
  }
  addLatency(`watch fan-out: create -> last of ${WATCHERS} watchers has it`, fan, undefined, `delivers to ${WATCHERS}`);
  rows.push([`  open ${WATCHERS} watches (HTTPS, new TLS connection each)`, ms(openMs), '', '', '', '']);
  rows.push([`RSS idle (8 s without requests), ${NODES} nodes + ${PODS} pods`, `${rssIdle.toFixed(0)} MiB`, '', '', '', '<= 150 MiB']);
  rows.push(['  RSS at start, empty', `${rssEmpty.toFixed(0)} MiB`, '', '', '', '']);
  rows.push(['  RSS right after the list and kubectl runs', `${rssAfterLists.toFixed(0)} MiB`, '', '', '', '']);
  rows.push([`  RSS with ${WATCHERS} watches open`, `${rssWatching.toFixed(0)} MiB`, '', '', '', '']);
  agent.destroy();
} finally {
  controller.abort();
  watchAgent?.destroy();
  await peer?.close();
  await s.stop();
  await s.cleanup();
}
printTable(`issue 2: hedge server on SQLite, ${NODES} nodes + ${PODS} pods; kubectl ${RUNS} runs each (peer = static HTTPS replay of hedge's bytes)`, rows);
for (const n of notes) process.stdout.write(`${n}\n`);
