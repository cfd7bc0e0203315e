import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { runStoreContract } from '../contract.ts';
import { openStore } from '../open-store.ts';
import { lazyEtcd } from './etcd-process.ts';
import { EtcdStore } from './etcd-store.ts';

// One real etcd for the file; every test gets its own key prefix in it.
const etcd = lazyEtcd();
const server = etcd.get;
let seq = 0;
after(() => etcd.stop());

runStoreContract('etcd', async () => {
  const { endpoint } = await server();
  const store = new EtcdStore({ endpoints: [endpoint], prefix: `/t${seq++}`, watchQueueLimit: 100 });
  return { store, cleanup: async () => {} };
});

test('prefixes keep clusters sharing one etcd apart', async () => {
  const { endpoint } = await server();
  const a = (await openStore({ kind: 'etcd', endpoints: [endpoint], prefix: '/cluster-a' })) as EtcdStore;
  const b = new EtcdStore({ endpoints: [endpoint], prefix: '/cluster-b' });
  try {
    await a.create('/registry/x', 'a');
    await b.create('/registry/x', 'b');
    await b.create('/registry/y', 'b');
    assert.deepEqual((await a.list('/registry/')).items.map((kv) => [kv.key, kv.value]), [['/registry/x', 'a']]);
    assert.equal(await b.count(''), 2);
    assert.equal((await b.get('/registry/x'))?.value, 'b');
    // The revision is etcd's, shared by both.
    assert.equal(await a.currentRevision(), await b.currentRevision());
  } finally {
    await a.close();
    await b.close();
  }
});

test('a LIST larger than gRPC\'s default 4 MiB answer (5,000 nodes are) is read', async () => {
  const { endpoint } = await server();
  const store = new EtcdStore({ endpoints: [endpoint], prefix: `/t${seq++}` });
  try {
    const value = 'x'.repeat(1_000_000);
    for (let i = 0; i < 5; i++) await store.create(`/big/${i}`, value);
    const all = await store.list('/big/');
    assert.equal(all.items.length, 5);
    assert.ok(all.items.every((kv) => kv.value === value));
  } finally {
    await store.close();
  }
});

/** a loopback port nothing listens on */
async function deadEndpoint(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

test('calls fail over to a member that answers; with none, they fail Unavailable, not with a transport error', async () => {
  const { endpoint } = await server();
  const dead = await deadEndpoint();
  const both = new EtcdStore({ endpoints: [dead, endpoint], prefix: `/t${seq++}` });
  const none = new EtcdStore({ endpoints: [dead] });
  try {
    // the member for each call is chosen at random: some of these start at the dead one
    for (let i = 0; i < 20; i++) {
      const kv = await both.create(`/f/${i}`, 'v');
      assert.equal((await both.update(kv.key, 'w', { expectedRevision: kv.modRevision })).value, 'w');
      assert.equal((await both.get(kv.key))?.value, 'w');
    }
    assert.equal((await both.list('/f/')).items.length, 20);
    await assert.rejects(none.get('/x'), (err: unknown) => isHedgeError(err, 'Unavailable'));
    await assert.rejects(none.create('/x', 'v'), (err: unknown) => isHedgeError(err, 'Unavailable'));
  } finally {
    await both.close();
    await none.close();
  }
});
