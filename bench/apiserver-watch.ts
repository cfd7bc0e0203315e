/**
 * Watch fan-out: W watchers on /api/v1/pods, one write, time until every watcher has the
 * event (docs/targets.md: watch delivers to 1,000 watchers). Prints a table; asserts nothing.
 *   node --import tsx bench/apiserver-watch.ts [--watchers N] [--writes N]
 */
import { setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startHedgeServer } from '../test/e2e/harness.ts';
import { printTable, rssMiB, summarize } from './apiserver-seed.ts';

const { values } = parseArgs({ options: { watchers: { type: 'string', default: '1000' }, writes: { type: 'string', default: '10' } } });
const WATCHERS = Number(values.watchers);
const WRITES = Number(values.writes);

const s = await startHedgeServer({ store: 'sqlite' });
const pki = join(s.dataDir, 'pki');
const [ca, cert, key] = await Promise.all(['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
const agent = new Agent({ keepAlive: true, ca, cert, key, maxSockets: WATCHERS + 10 });
const u = new URL(s.url);
const controller = new AbortController();
// one abort signal ends every watch request
setMaxListeners(WATCHERS + 10, controller.signal);

try {
  const ns = await s.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'w' } });
  if (ns.status !== 201) throw new Error(`namespace: ${ns.status}`);
  const rv = ((await s.api('GET', '/api/v1/namespaces/w/pods')).body as { metadata: { resourceVersion: string } }).metadata.resourceVersion;

  // per watcher: resolve functions waiting for a pod name
  const waiting: Map<string, () => void>[] = [];
  const opened: Promise<void>[] = [];
  for (let i = 0; i < WATCHERS; i++) {
    const wait = new Map<string, () => void>();
    waiting.push(wait);
    opened.push(
      new Promise<void>((resolve, reject) => {
        const req = request(
          { host: u.hostname, port: u.port, path: `/api/v1/namespaces/w/pods?watch=1&resourceVersion=${rv}`, agent, signal: controller.signal },
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
                if (line.trim() === '') continue;
                const ev = JSON.parse(line) as { type: string; object: { metadata?: { name?: string } } };
                const name = ev.object.metadata?.name;
                if (ev.type === 'ADDED' && name !== undefined) wait.get(name)?.();
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
  const tOpen = performance.now();
  await Promise.all(opened);
  const openMs = performance.now() - tOpen;
  const rssWatching = await rssMiB(s.pid);

  const allMs: number[] = [];
  const p99Ms: number[] = [];
  for (let wi = 0; wi < WRITES; wi++) {
    const name = `p-${wi}`;
    const start = performance.now();
    const lat: number[] = [];
    const all = Promise.all(
      waiting.map(
        (w) =>
          new Promise<void>((resolve) =>
            w.set(name, () => {
              lat.push(performance.now() - start);
              resolve();
            }),
          ),
      ),
    );
    const r = await s.api('POST', '/api/v1/namespaces/w/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'w' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    if (r.status !== 201) throw new Error(`create: ${r.status}`);
    await all;
    allMs.push(performance.now() - start);
    p99Ms.push(summarize(lat).p99);
  }
  const a = summarize(allMs);
  const b = summarize(p99Ms);
  printTable(`watch fan-out: ${WATCHERS} watchers, ${WRITES} creates (one at a time)`, [
    ['measure', 'p50 ms', 'max ms'],
    ['create -> last watcher has the event', a.p50, a.max],
    ['create -> 99% of watchers have it', b.p50, b.max],
  ]);
  printTable('setup', [
    ['measure', 'value'],
    [`open ${WATCHERS} watches (ms)`, openMs],
    ['server RSS while watching (MiB)', rssWatching],
  ]);
} finally {
  controller.abort();
  agent.destroy();
  await s.stop();
  await s.cleanup();
}
