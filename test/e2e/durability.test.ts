/**
 * Every write the server acknowledged survives `kill -9` of the server process.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { findKubectl, startHedgeServer, type HedgeServer } from './harness.ts';

const NS = 'dur';
const TARGET_ACKS = 300;
const CONCURRENCY = 8;

describe('durability across kill -9', () => {
  const servers: HedgeServer[] = [];
  after(async () => {
    for (const s of [...servers].reverse()) await s.stop({ graceMs: 2000 }).catch(() => undefined);
    // the first server created the data dir; the restarted one only borrowed it
    await servers[0]?.cleanup();
  });

  it('keeps every acknowledged object after a crash during writes', async (t) => {
    const first = await startHedgeServer({ store: 'sqlite' });
    servers.push(first);
    const ns = await first.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    assert.equal(ns.status, 201, JSON.stringify(ns.body));

    const acked = new Map<string, string>();
    let next = 0;
    let killed = false;
    let killing: Promise<void> | undefined;
    const writer = async (): Promise<void> => {
      while (!killed) {
        const name = `cm-${next++}`;
        try {
          const r = await first.api('POST', `/api/v1/namespaces/${NS}/configmaps`, {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name, namespace: NS },
            data: { n: name },
          });
          if (r.status === 201) {
            acked.set(name, (r.body as { metadata: { uid: string } }).metadata.uid);
          } else if (!killed) {
            assert.fail(`POST ${name}: ${r.status} ${JSON.stringify(r.body)}`);
          }
        } catch (err) {
          // connections die with the server; anything not acknowledged may or may not be there
          if (!killed) throw err;
        }
        // crash while other writers still have requests in flight
        if (acked.size >= TARGET_ACKS && !killed) {
          killed = true;
          killing = first.kill9();
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, writer));
    await killing;

    const second = await startHedgeServer({ store: 'sqlite', dataDir: first.dataDir });
    servers.push(second);
    const list = await second.api('GET', `/api/v1/namespaces/${NS}/configmaps`);
    assert.equal(list.status, 200);
    const items = (list.body as { items: { metadata: { name: string; uid: string } }[] }).items;
    const present = new Map(items.map((i) => [i.metadata.name, i.metadata.uid]));
    const lost = [...acked.keys()].filter((n) => present.get(n) !== acked.get(n));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged objects lost`);
    assert.ok(present.size >= acked.size);
    t.diagnostic(`acknowledged ${acked.size}, attempted ${next}, present after restart ${present.size}`);

    // the restarted server keeps serving writes and reads on top of the recovered state
    const after = await second.api('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'after-restart', namespace: NS },
    });
    assert.equal(after.status, 201, JSON.stringify(after.body));
    if (findKubectl() !== undefined) {
      const r = await second.kubectl(['get', 'configmaps', '-n', NS, '--no-headers']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').length, present.size + 1);
    }
  });
});
