/**
 * Scale-out failover: two `hedge server` replicas on a 3-member etcd cluster (Debian's etcd).
 * Under concurrent writes through both replicas and a watch through the second, one etcd member
 * and then the first replica are killed with SIGKILL. Every acknowledged write must be stored and
 * seen by the watch exactly once (a watch that breaks resumes from its last resourceVersion, as
 * informers do), and the controllers' leases must move to the surviving replica.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../../src/store/etcd/etcd-process.ts';
import { startHedgeServer, type HedgeServer } from './harness.ts';
import { waitUntil as waitFor } from './pod-checks.ts';

/** waits until `probe` is true */
const waitUntil = (what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<true> => waitFor(what, timeoutMs, async () => ((await probe()) ? true : undefined));

const ETCD = '/usr/bin/etcd';
const NS = 'ha';
type Obj = { metadata: { name: string; resourceVersion: string } };
interface WatchEvent {
  type: string;
  object: Obj & { code?: number };
}

/** An informer-like watch of configmaps in NS through one server: resumes from the last rv on any break. */
function watchConfigMaps(server: string, agent: Agent, fromRv: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
  let rv = fromRv;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const u = new URL(`/api/v1/namespaces/${NS}/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, server);
      const req = request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, agent, signal }, (res) => {
        let buf = '';
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() === '') continue;
            const e = JSON.parse(line) as WatchEvent;
            if (e.type === 'ERROR') throw new Error(`watch error: ${line}`);
            rv = e.object.metadata.resourceVersion;
            if (e.type !== 'BOOKMARK') onEvent(e);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });
  return (async () => {
    while (!signal.aborted) {
      await once();
      if (!signal.aborted) await new Promise((r) => setTimeout(r, 200));
    }
  })();
}

describe('two apiservers on a 3-member etcd: a member and a replica die under traffic', { skip: existsSync(ETCD) ? false : `${ETCD} not installed` }, () => {
  let cluster: EtcdCluster | undefined;
  const servers: HedgeServer[] = [];
  // aborted here too: after a failed assertion the watch would reconnect forever and hold the file open
  const watchStop = new AbortController();
  after(async () => {
    watchStop.abort();
    for (const s of [...servers].reverse()) await s.stop({ graceMs: 3000 }).catch(() => undefined);
    await servers[0]?.cleanup();
    await cluster?.stop();
  });

  it('loses no acknowledged write, delivers each to the watch once, and fails the controllers over', async () => {
    cluster = await startEtcdCluster(3, ETCD);
    const etcdArgs = ['--etcd-servers', cluster.endpoints.join(',')];
    const a = await startHedgeServer({ store: 'etcd', extraArgs: etcdArgs });
    servers.push(a);
    const leaseHolder = async (s: HedgeServer, name: string): Promise<string | undefined> => {
      const r = await s.api('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${name}`).catch(() => undefined);
      return r?.status === 200 ? (r.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity : undefined;
    };
    // A leads both controllers before B starts, so killing A forces a failover
    await waitUntil('A leads the controllers', 30_000, async () => (await leaseHolder(a, 'hedge-scheduler'))?.endsWith(`_${a.pid}`) === true && (await leaseHolder(a, 'hedge-controller-manager'))?.endsWith(`_${a.pid}`) === true);
    const b = await startHedgeServer({ store: 'etcd', dataDir: a.dataDir, extraArgs: etcdArgs });
    servers.push(b);

    const ns = await b.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    assert.equal(ns.status, 201, JSON.stringify(ns.body));
    const startRv = (ns.body as Obj).metadata.resourceVersion;

    const pki = join(a.dataDir, 'pki');
    const [ca, cert, key] = await Promise.all(['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
    const agent = new Agent({ ca, cert, key, keepAlive: false });
    const added = new Map<string, number>();
    const events: string[] = [];
    const watching = watchConfigMaps(b.url, agent, startRv, (e) => {
      events.push(`${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
      if (e.type === 'ADDED') added.set(e.object.metadata.name, (added.get(e.object.metadata.name) ?? 0) + 1);
    }, watchStop.signal);

    // writers: alternate between the replicas; once A is dead only B
    const acked = new Set<string>();
    const attempted = new Set<string>();
    let aDead = false;
    let stopWriting = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stopWriting; i++) {
        const name = `w${w}-${i}`;
        const via = !aDead && i % 2 === 0 ? a : b;
        attempted.add(name);
        try {
          const r = await via.api('POST', `/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { w: String(w) } });
          if (r.status === 201) acked.add(name);
          else if (r.status >= 500 || r.status === 409) await new Promise((res) => setTimeout(res, 100)); // etcd failover in progress
          else assert.fail(`POST ${name} via ${via === a ? 'A' : 'B'}: ${r.status} ${JSON.stringify(r.body)}`);
        } catch {
          await new Promise((res) => setTimeout(res, 100)); // the connection died with a process
        }
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    await waitUntil('writes flowing', 20_000, async () => acked.size >= 40);
    await cluster.members[0]!.kill();
    const afterMemberKill = acked.size;
    await waitUntil('writes flowing without etcd member m0', 30_000, async () => acked.size >= afterMemberKill + 40);
    await a.kill9();
    aDead = true;
    const afterReplicaKill = acked.size;
    await waitUntil('writes flowing without replica A', 30_000, async () => acked.size >= afterReplicaKill + 40);
    stopWriting = true;
    await writers;

    // every acknowledged write is stored ...
    const list = await b.api('GET', `/api/v1/namespaces/${NS}/configmaps`);
    const stored = new Set((list.body as { items: Obj[] }).items.map((o) => o.metadata.name));
    const lost = [...acked].filter((n) => !stored.has(n));
    assert.deepEqual(lost, [], 'acknowledged writes missing from the store');
    // ... nothing appears that nobody wrote (but the root CA publisher's ConfigMap, in every namespace) ...
    assert.deepEqual([...stored].filter((n) => !attempted.has(n) && n !== 'kube-root-ca.crt'), []);
    // ... and the watch through B saw each stored object exactly once
    await waitUntil('the watch catches up', 30_000, async () => [...stored].every((n) => added.has(n)));
    const dup = [...added.entries()].filter(([, c]) => c > 1).map(([n]) => n);
    assert.deepEqual(dup, [], `duplicated watch events; events: ${events.slice(-20).join('; ')}`);
    assert.deepEqual([...added.keys()].filter((n) => !stored.has(n)), [], 'watch delivered objects that are not stored');
    watchStop.abort();
    await watching;
    agent.destroy();

    // the controllers moved to B within their lease
    await waitUntil('B leads the controllers', 60_000, async () => (await leaseHolder(b, 'hedge-scheduler'))?.endsWith(`_${b.pid}`) === true && (await leaseHolder(b, 'hedge-controller-manager'))?.endsWith(`_${b.pid}`) === true);
    process.stdout.write(`# etcd HA: ${acked.size} writes acknowledged (${afterMemberKill} before the member kill, ${afterReplicaKill} before the replica kill), ${attempted.size - acked.size} unacknowledged, ${stored.size} stored, ${events.length} watch events\n`);
  });
});
