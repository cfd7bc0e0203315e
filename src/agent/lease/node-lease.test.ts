import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { HedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { NodeLease } from './node-lease.ts';

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond());
};

describe('node lease', () => {
  it('creates the lease owned by the Node, renews every 10 s, backs off on errors', async () => {
    const client = new FakeKubeClient();
    const clock = new FakeClock();
    const lease = new NodeLease({ client, nodeName: 'n1', clock, logger: silentLogger(), nodeUid: async () => 'node-uid' });
    const ac = new AbortController();
    const run = lease.run(ac.signal);
    await until(() => lease.renewals === 1 && clock.pending === 1);
    let l = (await client.get(Resources.leases, 'n1', { namespace: 'kube-node-lease' })) as KubeObject & { spec: Record<string, unknown> };
    assert.equal(l.spec.holderIdentity, 'n1');
    assert.equal(l.spec.leaseDurationSeconds, 40);
    assert.equal(l.spec.renewTime, '2026-01-01T00:00:00.000000Z');
    assert.deepEqual(l.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'node-uid' }]);

    clock.advance(9_999);
    await new Promise((r) => setImmediate(r));
    assert.equal(lease.renewals, 1);
    clock.advance(1);
    await until(() => lease.renewals === 2 && clock.pending === 1);
    l = (await client.get(Resources.leases, 'n1', { namespace: 'kube-node-lease' })) as KubeObject & { spec: Record<string, unknown> };
    assert.equal(l.spec.renewTime, '2026-01-01T00:00:10.000000Z');

    client.failNext('get', new HedgeError('Unavailable', 'apiserver down'));
    clock.advance(10_000);
    await until(() => clock.pending === 1);
    assert.equal(lease.renewals, 2);
    clock.advance(7_000); // back-off is at most 7 s
    await until(() => lease.renewals === 3);
    ac.abort();
    await run;
  });
});
