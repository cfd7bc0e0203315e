import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { xsalsa20 } from '@noble/ciphers/salsa.js';
import { aesCbc, aesGcm, secretBox } from './providers.ts';

const ad = Buffer.from('/registry/core/secrets/default/s1');
const lengths = [0, 1, 2, 15, 16, 17, 128, 1024];

test('each provider round-trips every length, with each allowed key size', () => {
  const cases = [
    ...[16, 24, 32].map((n) => ({ name: `aescbc ${n}`, t: aesCbc(randomBytes(n)) })),
    ...[16, 24, 32].map((n) => ({ name: `aesgcm ${n}`, t: aesGcm(randomBytes(n)) })),
    { name: 'secretbox', t: secretBox(randomBytes(32)) },
  ];
  for (const { name, t } of cases) {
    for (const n of lengths) {
      const plain = randomBytes(n);
      const sealed = t.toStorage(plain, ad);
      if (n >= 16) assert.ok(!sealed.includes(plain), `${name} ${n}: the plaintext is not in the sealed value`);
      assert.deepEqual(t.fromStorage(sealed, ad), plain, `${name} ${n}`);
    }
  }
});

test('aesgcm reads upstream\'s recorded ciphertext (aes_test.go TestGCMLegacyDataCompatibility)', () => {
  // nonce(12) + sealed box, key "snorlax_awesomes", authenticated data "bamboo"
  const legacy = Buffer.from('9f27c8fcea8a58c467d8e437dbf2d85955f9b4bd912f4ef967d788a0cb07797dac0a3f0a0845605ca85ac8562b4ae1', 'hex');
  const t = aesGcm(Buffer.from('snorlax_awesomes'));
  assert.equal(t.fromStorage(legacy, Buffer.from('bamboo')).toString(), 'pandas are the best');
  assert.throws(() => t.fromStorage(legacy, Buffer.from('panda')), /message authentication failed/, 'the authenticated data is checked');
});

test('aesgcm layout: 12-byte nonce, ciphertext, 16-byte tag; bound to the storage key', () => {
  const t = aesGcm(randomBytes(32));
  const sealed = t.toStorage(Buffer.from('{"kind":"Secret"}'), ad);
  assert.equal(sealed.length, 12 + 17 + 16);
  assert.throws(() => t.fromStorage(sealed, Buffer.from('/registry/core/secrets/default/other')), /message authentication failed/);
  const flipped = Buffer.from(sealed);
  flipped[20]! ^= 1;
  assert.throws(() => t.fromStorage(flipped, ad), /message authentication failed/);
});

test('aescbc layout: IV then PKCS#7-padded CBC blocks (a vector made with another implementation)', () => {
  // python cryptography: AES-256-CBC, key 00..1f, IV 64..73, PKCS7
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const stored = Buffer.from(
    '6465666768696a6b6c6d6e6f7071727344283a8a80a45cba29966b60a5c5bdabbe77cec9499d2c759c316b9b82692806a5be84ab06db5eae2a404364b70ff36f',
    'hex',
  );
  const t = aesCbc(key);
  assert.equal(t.fromStorage(stored, ad).toString(), '{"kind":"Secret","data":{"k":"dmFsdWU="}}');
  // always padded: 16 bytes of plaintext take two blocks after the IV
  assert.equal(t.toStorage(Buffer.alloc(16), ad).length, 16 + 32);
  assert.equal(t.toStorage(Buffer.alloc(15), ad).length, 16 + 16);
  assert.throws(() => aesCbc(randomBytes(32)).fromStorage(stored, ad), /invalid padding|block size/);
  assert.throws(() => t.fromStorage(stored.subarray(0, 30), ad), /not a multiple of the block size/);
});

test('secretbox layout: 24-byte nonce, Poly1305 tag, then the XSalsa20 stream from byte 32 XOR the plaintext', () => {
  const key = randomBytes(32);
  const plain = Buffer.from('{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}');
  const sealed = secretBox(key).toStorage(plain, ad);
  assert.equal(sealed.length, 24 + 16 + plain.length);
  const nonce = sealed.subarray(0, 24);
  // NaCl secretbox: the first 32 bytes of the stream key Poly1305, the rest encrypt
  const stream = xsalsa20(key, nonce, new Uint8Array(32 + plain.length));
  const ct = sealed.subarray(40);
  assert.deepEqual(Buffer.from(ct.map((b, i) => b ^ stream[32 + i]!)), plain);
  const tampered = Buffer.from(sealed);
  tampered[45]! ^= 1;
  assert.throws(() => secretBox(key).fromStorage(tampered, ad), /authentication failed/);
  assert.throws(() => secretBox(randomBytes(32)).fromStorage(sealed, ad), /authentication failed/);
});
