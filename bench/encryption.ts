/**
 * What encryption at rest costs a Secret's write and read: the apiserver's storage path
 * (ResourceStore + ObjectCodec on a SQLite file) with no config, identity, aescbc, aesgcm and
 * secretbox, plus the bare transform per value. Secrets of ~1 KiB of data. Prints a markdown table
 * of medians over RUNS runs; asserts nothing.
 *
 *   node --import tsx bench/encryption.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../src/api/object.ts';
import type { ResourceDef } from '../src/api/resources/types.ts';
import { EncryptionAtRest, type ProviderSpec } from '../src/apiserver/encryption/index.ts';
import { ObjectCodec } from '../src/apiserver/registry/object-codec.ts';
import { ResourceStore } from '../src/apiserver/registry/resource-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const RUNS = 3;
const N = 2_000;
const CONCURRENCY = 50;
const TRANSFORMS = 20_000;

const secrets: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  listKind: 'SecretList',
  plural: 'secrets',
  singular: 'secret',
  shortNames: [],
  categories: [],
  namespaced: true,
  verbs: ['get', 'list', 'create', 'update', 'delete'],
  subresources: [],
  hasStatus: false,
};

const secret = (i: number): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `s${i}`, namespace: 'default', uid: `u-${i}` }, type: 'Opaque', data: { blob: randomBytes(768).toString('base64') } }) as KubeObject;

const MODES: { name: string; providers?: ProviderSpec[] }[] = [
  { name: 'none (no config)' },
  { name: 'identity', providers: [{ kind: 'identity' }] },
  { name: 'aescbc (256)', providers: [{ kind: 'aescbc', keys: [{ name: 'k', secret: randomBytes(32) }] }] },
  { name: 'aesgcm (256)', providers: [{ kind: 'aesgcm', keys: [{ name: 'k', secret: randomBytes(32) }] }] },
  { name: 'secretbox', providers: [{ kind: 'secretbox', keys: [{ name: 'k', secret: randomBytes(32) }] }] },
];

const dir = mkdtempSync(join(tmpdir(), 'hedge-bench-enc-'));
let seq = 0;

interface Sample {
  createPerS: number;
  getUs: number;
  listMs: number;
  sealUs: number;
  openUs: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function run(providers: ProviderSpec[] | undefined): Promise<Sample> {
  const encryption = providers ? new EncryptionAtRest({ resources: [{ resources: [{ group: '', resource: 'secrets' }], providers }] }) : undefined;
  const store = new SqliteStore({ path: join(dir, `s${seq++}.db`) });
  try {
    const writer = new ResourceStore(secrets, store, new ObjectCodec({ encryption }));
    const objs = Array.from({ length: N }, (_, i) => secret(i));
    let t = performance.now();
    for (let i = 0; i < N; i += CONCURRENCY) await Promise.all(objs.slice(i, i + CONCURRENCY).map((o) => writer.create(o, false)));
    const createPerS = N / ((performance.now() - t) / 1000);

    // a cold decode cache, as another apiserver or a restart: every read decrypts
    const reader = new ResourceStore(secrets, store, new ObjectCodec({ encryption }));
    t = performance.now();
    for (let i = 0; i < N; i++) await reader.get('default', `s${i}`);
    const getUs = ((performance.now() - t) * 1000) / N;
    const lister = new ObjectCodec({ encryption });
    t = performance.now();
    const listed = await writer.list('default', {});
    for (const kv of listed.items) lister.decode(kv);
    const listMs = performance.now() - t;

    // the transform alone on one value
    const k = '/registry/core/secrets/default/s0';
    const plain = JSON.stringify(objs[0]);
    const chain = encryption?.forKey(k);
    t = performance.now();
    let sealed = plain;
    for (let i = 0; i < TRANSFORMS; i++) sealed = chain ? chain.toStorage(plain, k) : plain;
    const sealUs = ((performance.now() - t) * 1000) / TRANSFORMS;
    t = performance.now();
    for (let i = 0; i < TRANSFORMS; i++) if (chain) chain.fromStorage(sealed, k);
    const openUs = ((performance.now() - t) * 1000) / TRANSFORMS;
    return { createPerS, getUs, listMs, sealUs, openUs };
  } finally {
    await store.close();
  }
}

try {
  console.log(`| provider | create/s (${N} secrets, ${CONCURRENCY} concurrent) | get µs (cold cache) | list+decode ${N} ms | seal µs/value | open µs/value |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const m of MODES) {
    const samples: Sample[] = [];
    for (let r = 0; r < RUNS; r++) samples.push(await run(m.providers));
    const med = (f: (s: Sample) => number): number => median(samples.map(f));
    console.log(`| ${m.name} | ${med((s) => s.createPerS).toFixed(0)} | ${med((s) => s.getUs).toFixed(1)} | ${med((s) => s.listMs).toFixed(1)} | ${med((s) => s.sealUs).toFixed(2)} | ${med((s) => s.openUs).toFixed(2)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
