import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { kmsProtoPackage } from '../kms-grpc.ts';
import { aesGcm, type ByteTransformer } from '../providers.ts';

/**
 * A KMS v2 plugin for tests: `v2.KeyManagementService` on a unix socket, encrypting with an
 * AES-256-GCM key encryption key per key ID (the key ID is the authenticated data, so a ciphertext
 * only decrypts under the key ID it was made with). `keyId` switches the current KEK (a
 * rotation); `stop`/`start` take it down and bring it back on the same socket; `calls` counts the
 * RPCs the apiserver made.
 */
export class TestKmsPlugin {
  readonly calls = { status: 0, encrypt: 0, decrypt: 0 };
  keyId: string;
  /** what Status says in healthz ("ok" when healthy) */
  healthz = 'ok';
  readonly #keks = new Map<string, ByteTransformer>();
  #server: grpc.Server | undefined;

  constructor(
    readonly socket: string,
    keyId = 'key-1',
  ) {
    this.keyId = keyId;
  }

  get endpoint(): string {
    return `unix://${this.socket}`;
  }

  #kek(id: string): ByteTransformer {
    let k = this.#keks.get(id);
    if (!k) this.#keks.set(id, (k = aesGcm(randomBytes(32))));
    return k;
  }

  async start(): Promise<void> {
    await rm(this.socket, { force: true });
    const server = new grpc.Server();
    const service = (kmsProtoPackage().KeyManagementService as unknown as { service: grpc.ServiceDefinition }).service;
    type Call<T> = grpc.ServerUnaryCall<T, unknown>;
    type Done = grpc.sendUnaryData<unknown>;
    server.addService(service, {
      Status: (_call: Call<object>, done: Done) => {
        this.calls.status++;
        done(null, { version: 'v2', healthz: this.healthz, key_id: this.keyId });
      },
      Encrypt: (call: Call<{ plaintext: Buffer }>, done: Done) => {
        this.calls.encrypt++;
        const keyId = this.keyId;
        done(null, { ciphertext: this.#kek(keyId).toStorage(call.request.plaintext, Buffer.from(keyId)), key_id: keyId, annotations: { 'kek.kms.hedge.io': Buffer.from(keyId) } });
      },
      Decrypt: (call: Call<{ ciphertext: Buffer; key_id: string; annotations: Record<string, Buffer> }>, done: Done) => {
        this.calls.decrypt++;
        const { ciphertext, key_id: keyId, annotations } = call.request;
        if (!this.#keks.has(keyId) || annotations['kek.kms.hedge.io']?.toString() !== keyId) {
          done({ code: grpc.status.NOT_FOUND, details: `unknown key ID ${keyId}` }, null);
          return;
        }
        try {
          done(null, { plaintext: this.#kek(keyId).fromStorage(ciphertext, Buffer.from(keyId)) });
        } catch (err) {
          done({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message }, null);
        }
      },
    });
    await new Promise<void>((resolve, reject) => server.bindAsync(this.endpoint, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    this.#server = server;
  }

  /** down: the socket refuses (the KEKs are kept for a later `start`) */
  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.forceShutdown();
    await rm(this.socket, { force: true });
  }
}
