import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../flowcontrol/fake-clock.ts';
import { aesGcm } from './providers.ts';
import { decodeEncryptedObject, encodeEncryptedObject, expandOnly, HKDF_SHA256_XNONCE_AES_GCM_SEED, KmsV2Provider, type KmsService } from './kmsv2.ts';

test('HKDF-Expand of the seed is RFC 5869 test case 1 (first 32 bytes of OKM from its PRK)', () => {
  const prk = Buffer.from('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5', 'hex');
  assert.equal(expandOnly(prk, Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex')).toString('hex'), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf');
});

test('EncryptedObject: protobuf fields 1-5 round trip, map entries as nested messages', () => {
  const o = { encryptedData: Buffer.from([1, 2, 3]), keyID: 'k1', encryptedDEKSource: Buffer.from('seed'), annotations: { 'a.example.com': Buffer.from('x') }, encryptedDEKSourceType: HKDF_SHA256_XNONCE_AES_GCM_SEED };
  const b = encodeEncryptedObject(o);
  assert.equal(b.toString('hex').slice(0, 10), '0a03010203', 'field 1, bytes, length 3');
  assert.deepEqual(decodeEncryptedObject(b), o);
  assert.throws(() => decodeEncryptedObject(Buffer.from([0xff])), /failed to unmarshal encrypted object/);
});

/** a plugin in memory: AES-GCM KEK per key ID */
function fakeService(): KmsService & { keyId: string; down: boolean; encrypts: number } {
  const keks = new Map<string, ReturnType<typeof aesGcm>>();
  const kek = (id: string) => keks.get(id) ?? keks.set(id, aesGcm(Buffer.alloc(32, id.length))).get(id)!;
  const s = {
    keyId: 'a',
    down: false,
    encrypts: 0,
    async status() {
      if (s.down) throw new Error('connection refused');
      return { version: 'v2', healthz: 'ok', keyId: s.keyId };
    },
    async encrypt(_uid: string, plaintext: Buffer) {
      s.encrypts++;
      return { ciphertext: kek(s.keyId).toStorage(plaintext, Buffer.alloc(0)), keyId: s.keyId, annotations: {} };
    },
    async decrypt(_uid: string, req: { ciphertext: Buffer; keyId: string }) {
      if (s.down) throw new Error('connection refused');
      return kek(req.keyId).fromStorage(req.ciphertext, Buffer.alloc(0));
    },
    close() {},
  };
  return s;
}

test('KmsV2Provider: one seed per key ID, stale after rotation, writes refused 3 min after the last good Status', async () => {
  const clock = new FakeClock();
  const svc = fakeService();
  const p = new KmsV2Provider({ name: 'p', endpoint: 'unix:///unused', timeoutMs: 1000 }, { service: svc, timers: clock });
  const ad = Buffer.from('/registry/core/secrets/ns/a');
  assert.throws(() => p.toStorage(Buffer.from('x'), ad), /KMS provider p has no DEK to encrypt with: the plugin has not answered Status yet/);
  await p.start();
  const v1 = p.toStorage(Buffer.from('one'), ad);
  p.toStorage(Buffer.from('two'), ad);
  assert.equal(svc.encrypts, 1);
  assert.deepEqual(p.fromStorage(v1, ad), { plain: Buffer.from('one'), stale: false });
  assert.throws(() => p.fromStorage(v1, Buffer.from('/registry/core/secrets/ns/b')), /message authentication failed/, 'the store key is authenticated');

  svc.keyId = 'b';
  assert.equal(await p.check(true), undefined);
  assert.equal(p.currentKeyID(), 'b');
  assert.equal(svc.encrypts, 2);
  assert.equal(p.fromStorage(v1, ad).stale, true);
  assert.equal(decodeEncryptedObject(p.toStorage(Buffer.from('three'), ad)).keyID, 'b');

  // a new provider (a restart) needs the plugin's Decrypt before it reads; a failed Decrypt is reported on read
  const q = new KmsV2Provider({ name: 'p', endpoint: 'unix:///unused', timeoutMs: 1000 }, { service: svc, timers: clock });
  assert.throws(() => q.fromStorage(v1, ad), /the DEK of this value \(key ID "a"\) is not decrypted: the plugin was not asked/);
  svc.down = true;
  await q.prefetch(v1);
  assert.throws(() => q.fromStorage(v1, ad), /failed to decrypt DEK, error: connection refused/);
  svc.down = false;
  await q.prefetch(v1);
  assert.equal(q.fromStorage(v1, ad).plain.toString(), 'one');

  svc.down = true;
  assert.match((await p.check(true))!, /^failed to perform status section of the healthz check for KMS Provider p, error: connection refused/);
  clock.advance(3 * 60_000 - 1);
  p.toStorage(Buffer.from('coasting'), ad);
  clock.advance(2);
  assert.throws(() => p.toStorage(Buffer.from('late'), ad), /KMS provider p: the DEK seed of key ID "b" expired/);
  p.close();
  q.close();
});
