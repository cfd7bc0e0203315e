/**
 * @kubernetes/client-node's informer (list + watch) against the real `hedge server`:
 * every add/update/delete is seen exactly once, in order, across many changes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { startHedgeServer, type HedgeServer } from './harness.ts';

const NS = 'inf';
const N = 40;

const pod = (name: string): unknown => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS, labels: { round: '0' } },
  spec: { containers: [{ name: 'c', image: 'busybox:stable' }] },
});

describe('client-node informer against hedge server', () => {
  let s: HedgeServer;
  before(async () => {
    // no scheduler: its PodScheduled=False status writes would be extra (legitimate) updates
    s = await startHedgeServer({ store: 'memory', extraArgs: ['--no-controllers'] });
    const r = await s.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
  after(async () => {
    if (s === undefined) return;
    await s.stop();
    await s.cleanup();
  });

  it('sees every add, update and delete exactly once', async () => {
    const expect = async (method: string, path: string, body: unknown, status: number, ct?: string): Promise<void> => {
      const r = await s.api(method, path, body, ct);
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    };
    // objects that exist before the informer starts arrive through its initial list
    for (const name of ['pre-0', 'pre-1', 'pre-2']) await expect('POST', `/api/v1/namespaces/${NS}/pods`, pod(name), 201);

    const kc = new KubeConfig();
    kc.loadFromFile(s.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kc, `/api/v1/namespaces/${NS}/pods`, () => core.listNamespacedPod({ namespace: NS }));
    const events = new Map<string, string[]>();
    const errors: unknown[] = [];
    let onEvent: (() => void) | undefined;
    const record = (kind: string) => (p: V1Pod) => {
      const name = p.metadata?.name ?? '?';
      events.set(name, [...(events.get(name) ?? []), `${kind}:${p.metadata?.labels?.round ?? ''}`]);
      onEvent?.();
    };
    informer.on('add', record('add'));
    informer.on('update', record('update'));
    informer.on('delete', record('delete'));
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    try {
      const names = Array.from({ length: N }, (_, i) => `p-${String(i).padStart(3, '0')}`);
      // interleave the three kinds of change so the watch carries a mixed stream
      for (let i = 0; i < N + 2; i++) {
        if (i < N) await expect('POST', `/api/v1/namespaces/${NS}/pods`, pod(names[i]), 201);
        if (i >= 1 && i - 1 < N) {
          await expect('PATCH', `/api/v1/namespaces/${NS}/pods/${names[i - 1]}`, { metadata: { labels: { round: '1' } } }, 200, 'application/merge-patch+json');
        }
        if (i >= 2) await expect('DELETE', `/api/v1/namespaces/${NS}/pods/${names[i - 2]}?gracePeriodSeconds=0`, undefined, 200);
      }
      for (const name of ['pre-0', 'pre-1', 'pre-2']) {
        await expect('PATCH', `/api/v1/namespaces/${NS}/pods/${name}`, { metadata: { labels: { round: '1' } } }, 200, 'application/merge-patch+json');
      }
      // the watch is ordered: once the sentinel arrives, every earlier event has been delivered
      await expect('POST', `/api/v1/namespaces/${NS}/pods`, pod('zz-sentinel'), 201);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`sentinel not seen; events: ${JSON.stringify([...events])}`)), 20_000);
        onEvent = () => {
          if (events.has('zz-sentinel')) {
            clearTimeout(timer);
            resolve();
          }
        };
        onEvent();
      });

      assert.deepEqual(errors, []);
      for (const name of names) assert.deepEqual(events.get(name), ['add:0', 'update:1', 'delete:1'], name);
      for (const name of ['pre-0', 'pre-1', 'pre-2']) assert.deepEqual(events.get(name), ['add:0', 'update:1'], name);
      assert.deepEqual(events.get('zz-sentinel'), ['add:0']);
      assert.equal(events.size, N + 4);
      assert.deepEqual(
        informer.list(NS).map((p) => p.metadata?.name).sort(),
        ['pre-0', 'pre-1', 'pre-2', 'zz-sentinel'],
      );
    } finally {
      await informer.stop();
    }
  });
});
