import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Salsa from '@noble/ciphers/salsa.js';

/**
 * One key of one provider, as upstream's value.Transformer (k8s.io/apiserver/pkg/storage/value/encrypt):
 * bytes in, bytes out, with the storage key as the authenticated data. Each keeps upstream's byte
 * layout exactly, so a value written here reads in kube-apiserver and the other way round.
 */
export interface ByteTransformer {
  toStorage(plain: Buffer, authenticatedData: Buffer): Buffer;
  fromStorage(data: Buffer, authenticatedData: Buffer): Buffer;
}

const AES_BLOCK = 16;
const GCM_NONCE = 12;
const GCM_TAG = 16;
const SECRETBOX_NONCE = 24;
const SECRETBOX_OVERHEAD = 16;

function aesBits(key: Buffer): 128 | 192 | 256 {
  if (key.length === 16 || key.length === 24 || key.length === 32) return (key.length * 8) as 128 | 192 | 256;
  throw new Error(`an AES key is 16, 24 or 32 bytes, not ${key.length}`);
}

/**
 * aescbc: random 16-byte IV, then the PKCS#7-padded plaintext in CBC mode. Not authenticated
 * (upstream ignores the context here too); a wrong key shows as bad padding.
 */
export function aesCbc(key: Buffer): ByteTransformer {
  const algo = `aes-${aesBits(key)}-cbc`;
  return {
    toStorage(plain) {
      const iv = randomBytes(AES_BLOCK);
      const c = createCipheriv(algo, key, iv); // PKCS#7 padding is OpenSSL's default, as upstream pads
      return Buffer.concat([iv, c.update(plain), c.final()]);
    },
    fromStorage(data) {
      if (data.length < AES_BLOCK) throw new Error('the stored data was shorter than the required size');
      const body = data.subarray(AES_BLOCK);
      if (body.length % AES_BLOCK !== 0) throw new Error('the stored data is not a multiple of the block size');
      const d = createDecipheriv(algo, key, data.subarray(0, AES_BLOCK));
      try {
        return Buffer.concat([d.update(body), d.final()]);
      } catch {
        throw new Error('invalid padding on input');
      }
    },
  };
}

/** aesgcm: random 12-byte nonce, then the sealed box (ciphertext + 16-byte tag) over the storage key. */
export function aesGcm(key: Buffer): ByteTransformer {
  const algo = `aes-${aesBits(key)}-gcm` satisfies CipherGCMTypes;
  return {
    toStorage(plain, ad) {
      const nonce = randomBytes(GCM_NONCE);
      const c = createCipheriv(algo, key, nonce, { authTagLength: GCM_TAG });
      c.setAAD(ad);
      const body = Buffer.concat([c.update(plain), c.final()]);
      return Buffer.concat([nonce, body, c.getAuthTag()]);
    },
    fromStorage(data, ad) {
      if (data.length < GCM_NONCE + GCM_TAG) throw new Error('the stored data was shorter than the required size');
      const d = createDecipheriv(algo, key, data.subarray(0, GCM_NONCE), { authTagLength: GCM_TAG });
      d.setAAD(ad);
      d.setAuthTag(data.subarray(data.length - GCM_TAG));
      try {
        return Buffer.concat([d.update(data.subarray(GCM_NONCE, data.length - GCM_TAG)), d.final()]);
      } catch {
        throw new Error('cipher: message authentication failed');
      }
    },
  };
}

/** secretbox: random 24-byte nonce, then NaCl's box (16-byte Poly1305 tag, then XSalsa20 ciphertext). */
export function secretBox(key: Buffer): ByteTransformer {
  if (key.length !== 32) throw new Error(`a secretbox key is 32 bytes, not ${key.length}`);
  // loaded when a secretbox key is configured (a synchronous require of the ES module): every
  // apiserver imports the providers, `hedge node`'s replica too, few configure secretbox
  const { secretbox } = createRequire(import.meta.url)('@noble/ciphers/salsa.js') as typeof Salsa;
  return {
    toStorage(plain) {
      const nonce = randomBytes(SECRETBOX_NONCE);
      return Buffer.concat([nonce, secretbox(key, nonce).seal(plain)]);
    },
    fromStorage(data) {
      if (data.length < SECRETBOX_NONCE + SECRETBOX_OVERHEAD) throw new Error('the stored data was shorter than the required size');
      try {
        const out = secretbox(key, data.subarray(0, SECRETBOX_NONCE)).open(data.subarray(SECRETBOX_NONCE));
        return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
      } catch {
        throw new Error('secretbox: message authentication failed');
      }
    },
  };
}
