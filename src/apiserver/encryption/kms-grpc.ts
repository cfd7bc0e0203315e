/** The KMS v2 plugin's gRPC client (`v2.KeyManagementService` on a unix socket); kmsv2.ts loads it when a provider first calls. */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { KmsRpcError, type KmsService } from './kmsv2.ts';

interface KmsStub extends grpc.Client {
  Status(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { version: string; healthz: string; key_id: string }) => void): void;
  Encrypt(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { ciphertext: Buffer; key_id: string; annotations: Record<string, Buffer> }) => void): void;
  Decrypt(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { plaintext: Buffer }) => void): void;
}

/**
 * k8s.io/kms/apis/v2/api.proto (package v2) as protobufjs's JSON descriptor, so no .proto file has
 * to ship beside the bundle:
 *   service KeyManagementService { rpc Status(StatusRequest) returns (StatusResponse); rpc Decrypt(DecryptRequest) returns (DecryptResponse); rpc Encrypt(EncryptRequest) returns (EncryptResponse); }
 *   message StatusResponse { string version = 1; string healthz = 2; string key_id = 3; }
 *   message DecryptRequest { bytes ciphertext = 1; string uid = 2; string key_id = 3; map<string, bytes> annotations = 4; }
 *   message DecryptResponse { bytes plaintext = 1; }
 *   message EncryptRequest { bytes plaintext = 1; string uid = 2; }
 *   message EncryptResponse { bytes ciphertext = 1; string key_id = 2; map<string, bytes> annotations = 3; }
 */
const KMS_V2_DESCRIPTOR = {
  nested: {
    v2: {
      nested: {
        KeyManagementService: {
          methods: {
            Status: { requestType: 'StatusRequest', responseType: 'StatusResponse' },
            Decrypt: { requestType: 'DecryptRequest', responseType: 'DecryptResponse' },
            Encrypt: { requestType: 'EncryptRequest', responseType: 'EncryptResponse' },
          },
        },
        StatusRequest: { fields: {} },
        StatusResponse: { fields: { version: { type: 'string', id: 1 }, healthz: { type: 'string', id: 2 }, key_id: { type: 'string', id: 3 } } },
        DecryptRequest: {
          fields: { ciphertext: { type: 'bytes', id: 1 }, uid: { type: 'string', id: 2 }, key_id: { type: 'string', id: 3 }, annotations: { keyType: 'string', type: 'bytes', id: 4 } },
        },
        DecryptResponse: { fields: { plaintext: { type: 'bytes', id: 1 } } },
        EncryptRequest: { fields: { plaintext: { type: 'bytes', id: 1 }, uid: { type: 'string', id: 2 } } },
        EncryptResponse: { fields: { ciphertext: { type: 'bytes', id: 1 }, key_id: { type: 'string', id: 2 }, annotations: { keyType: 'string', type: 'bytes', id: 3 } } },
      },
    },
  },
};

/** grpc-js's UPPER_SNAKE code name as Go's codes.Code.String() (`DEADLINE_EXCEEDED` → `DeadlineExceeded`) */
function goCodeName(code: grpc.status): string {
  const n = grpc.status[code] ?? 'UNKNOWN';
  return n === 'OK' ? 'OK' : n.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

let kmsPackage: grpc.GrpcObject | undefined;
/** the `v2` package, loaded once */
export function kmsProtoPackage(): grpc.GrpcObject {
  kmsPackage ??= grpc.loadPackageDefinition(fromJSON(KMS_V2_DESCRIPTOR as Parameters<typeof fromJSON>[0], { keepCase: true, defaults: true })).v2 as grpc.GrpcObject;
  return kmsPackage;
}

/** A client of `v2.KeyManagementService` on `unix:///path`; every call bounded by `timeoutMs` (the config's `timeout`). */
export function grpcKmsService(endpoint: string, timeoutMs: number): KmsService {
  const Ctor = kmsProtoPackage().KeyManagementService as unknown as new (address: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions) => KmsStub;
  // a local socket: reconnect within a second of the plugin coming back (grpc's default backoff grows to 2 min)
  const stub = new Ctor(endpoint, grpc.credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 });
  const call = <T>(fn: (opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: T) => void) => void): Promise<T> =>
    new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      // wait for the connection up to the deadline, as upstream's client (WaitForReady)
      stub.waitForReady(deadline, (connectErr) => {
        // Go's client, waiting for ready, fails with DeadlineExceeded
        if (connectErr) return reject(new KmsRpcError('DeadlineExceeded', `no connection to ${endpoint} within ${timeoutMs}ms`));
        fn({ deadline }, (err, res) => (err || res === undefined ? reject(err ? new KmsRpcError(goCodeName(err.code), err.details) : new Error('empty response')) : resolve(res)));
      });
    });
  return {
    async status() {
      const r = await call<{ version: string; healthz: string; key_id: string }>((o, cb) => stub.Status({}, o, cb));
      return { version: r.version, healthz: r.healthz, keyId: r.key_id };
    },
    async encrypt(uid, plaintext) {
      const r = await call<{ ciphertext: Buffer; key_id: string; annotations: Record<string, Buffer> }>((o, cb) => stub.Encrypt({ plaintext, uid }, o, cb));
      return { ciphertext: r.ciphertext, keyId: r.key_id, annotations: r.annotations ?? {} };
    },
    async decrypt(uid, req) {
      const r = await call<{ plaintext: Buffer }>((o, cb) => stub.Decrypt({ ciphertext: req.ciphertext, uid, key_id: req.keyId, annotations: req.annotations }, o, cb));
      return r.plaintext;
    },
    close: () => stub.close(),
  };
}
