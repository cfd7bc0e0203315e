import { createRequire } from 'node:module';
import type { Client, Metadata } from '@grpc/grpc-js';
import { loadSync, type MethodDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { Etcd3, type IDuplexStream, type IOptions, type IRangeRequest, type IRangeResponse, type ITxnRequest, type ITxnResponse, type IWatchRequest, type IWatchResponse } from 'etcd3';

/**
 * etcd3's own protos, decoded with int64s as numbers: etcd3 decodes them as decimal strings
 * (Long → string, a division loop per field: a watch event's kv and prev_kv and every header have
 * 12), which were a few percent of an apiserver's CPU under a fleet's lease renewals. Revisions,
 * versions and counts stay far below 2^53. Otherwise etcd3's loader options (field names as in the
 * proto, enums as names, defaults filled in, oneofs named), so a response has etcd3's shape with
 * numbers where etcd3 has strings; the store reads every int64 through Number(), which takes both.
 */
const protos = loadSync(createRequire(import.meta.url).resolve('etcd3/proto/rpc.proto'), {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const KV = protos['etcdserverpb.KV'] as ServiceDefinition;
const WATCH = protos['etcdserverpb.Watch'] as ServiceDefinition;

/**
 * The etcd3 client with a cheaper way for the store's hot calls, on etcd3's own lower layers:
 * - range and txn go through etcd3's connection pool (`withConnection`: its member choice, circuit
 *   breakers, auth metadata, the members' grpc channels with their TLS and options) straight to
 *   grpc-js with the decoders above, skipping the pool's per-call retry policy and etcd3's
 *   call-option and promise layers. Only a success is answered from there: any failure is run again
 *   the full etcd3 way (`exec`: its retries over the members), so errors, retries and failover are
 *   etcd3's as before.
 * - the watch stream is etcd3's (its WatchManager: attach queue, reconnects, backoff) with the
 *   decoder above.
 */
export class EtcdClient extends Etcd3 {
  constructor(options: IOptions) {
    super(options);
    const pool = this.pool;
    const watch = WATCH.Watch;
    // what etcd3's WatchClient.watch does, with the number decoder (no default call options are set)
    this.watchClient.watch = (callOptions) =>
      pool.withConnection('Watch', ({ resource, client, metadata }) => {
        const stream = client.makeBidiStreamRequest(watch.path, watch.requestSerialize, watch.responseDeserialize, metadata, callOptions);
        stream.on('error', (err: Error) => stream.writable && pool.markFailed(resource, err));
        return stream as unknown as IDuplexStream<IWatchRequest, IWatchResponse>;
      });
  }

  /** a range; int64 fields are numbers (strings after a retry through etcd3) */
  fastRange(req: IRangeRequest): Promise<IRangeResponse> {
    return this.unary(KV.Range, 'range', req);
  }

  /** a txn; int64 fields are numbers (strings after a retry through etcd3) */
  fastTxn(req: ITxnRequest): Promise<ITxnResponse> {
    return this.unary(KV.Txn, 'txn', req);
  }

  private async unary<T>(def: MethodDefinition<object, object>, method: string, req: object): Promise<T> {
    try {
      return await this.pool.withConnection('KV', ({ client, metadata }) => callUnary<T>(client, def, req, metadata));
    } catch {
      // the pool has counted the failure against the member (its breaker) and reset its channel if
      // the error was a transport one; etcd3's exec retries over the members and maps the error
      return this.pool.exec<T>('KV', method, req);
    }
  }
}

function callUnary<T>(client: Client, def: MethodDefinition<object, object>, req: object, metadata: Metadata): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // grpc-js captures the caller's stack on every call, for its errors' stacks (about 2 % of an
    // apiserver's CPU under a fleet); a failure here is never shown (it is run again through etcd3)
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, req, metadata, {}, (err, res) => {
        if (err) reject(err);
        else resolve(res as T);
      });
    } finally {
      Error.stackTraceLimit = limit;
    }
  });
}
