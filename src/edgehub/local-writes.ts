import { randomBytes, randomUUID } from 'node:crypto';
import type { KubeObject } from '../api/object.ts';
import { isPlainObject } from '../api/object.ts';
import type { ResourceRequestInfo } from '../apiserver/index.ts';
import { formatTime } from '../client/micro-time.ts';
import { applyPatch } from '../client/patch.ts';
import type { PatchType, ResourceRef } from '../client/types.ts';
import { alreadyExists, conflict, HedgeError } from '../lib/errors.ts';
import { notRecorded, type HubDb, type JournalEntry } from './hub-db.ts';
import type { Replica } from './replica.ts';

export const patchTypes: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

export interface LocalWriteRequest {
  info: ResourceRequestInfo;
  res: ResourceRef;
  body: unknown;
  /** media type of the body, without parameters */
  contentType: string;
}

export interface LocalWriteDeps {
  nodeName: string;
  replica: Replica;
  db: HubDb;
  now: () => number;
}

export interface LocalWriteResult {
  code: number;
  body: unknown;
}

const unavailable = (what: string): HedgeError =>
  new HedgeError('Unavailable', `the cloud is unreachable and ${what} is not served offline; retry when the node is back online`, { details: { retryAfterSeconds: 5 } });

/**
 * What a node may write while the cloud is unreachable, applied to the replica and journaled
 * (fsync'd before the replica changes): its Node's status, its pods' status, and Events. TokenRequests are answered from earlier answers still valid. Everything
 * else is refused with 503: the hub never pretends a write happened.
 *
 * Lease renewals are refused on purpose: a renewTime delivered hours later says nothing about
 * liveness; the agent's offline-heartbeat journal reports the partition instead.
 */
export async function localWrite(d: LocalWriteDeps, r: LocalWriteRequest): Promise<LocalWriteResult> {
  const { info, res } = r;
  const what = `${info.verb} ${info.resource}${info.subresource ? `/${info.subresource}` : ''}`;
  const sub = info.subresource;
  switch (`${info.group}/${info.resource}`) {
    case '/nodes': {
      if (info.verb === 'create') {
        const name = isPlainObject(r.body) && isPlainObject(r.body.metadata) ? String(r.body.metadata.name ?? '') : '';
        if (name === d.nodeName && (await d.replica.get(res, '', name))) throw alreadyExists('nodes', name);
        throw unavailable(what);
      }
      // status only: labels and annotations are the cloud's to merge (the offline-heartbeats report
      // must stay pending in the agent until the cloud really has it)
      if (info.name !== d.nodeName || sub !== 'status') throw unavailable(what);
      return { code: 200, body: await modify(d, r, sub) };
    }
    case '/pods': {
      if (sub !== 'status' || (info.verb !== 'patch' && info.verb !== 'update')) throw unavailable(what);
      const pod = await d.replica.get(res, info.namespace, info.name);
      if (!pod) throw new HedgeError('NotFound', `pods "${info.name}" not found`, { details: { kind: 'pods', name: info.name } });
      if ((pod.spec as { nodeName?: string } | undefined)?.nodeName !== d.nodeName) throw unavailable(what);
      return { code: 200, body: await modify(d, r, sub) };
    }
    case '/events':
      if (info.verb !== 'create' || !isPlainObject(r.body)) throw unavailable(what);
      return { code: 201, body: journalEvent(d, r) };
    case '/serviceaccounts': {
      if (sub !== 'token' || info.verb !== 'create') throw unavailable(what);
      const cached = d.db.token(tokenCacheKey(info, r.body), d.now());
      if (cached === undefined) throw unavailable(`a TokenRequest not answered before`);
      return { code: 201, body: JSON.parse(cached) as unknown };
    }
    default:
      throw unavailable(what);
  }
}

/** the key a TokenRequest answer is cached under: same account, audiences, lifetime and bound object */
export function tokenCacheKey(info: ResourceRequestInfo, body: unknown): string {
  const spec = isPlainObject(body) && isPlainObject(body.spec) ? body.spec : {};
  return JSON.stringify([info.namespace, info.name, spec.audiences ?? [], spec.expirationSeconds ?? 3600, spec.boundObjectRef ?? null]);
}

async function modify(d: LocalWriteDeps, r: LocalWriteRequest, sub: string): Promise<KubeObject> {
  const { info } = r;
  const subresource: '' | 'status' = sub === 'status' ? 'status' : '';
  let seq: number | undefined;
  try {
    return await modifyJournaled(d, r, subresource, (s) => (seq = s));
  } catch (err) {
    if (seq === undefined) throw err;
    // journaled, but the replica could not take it (its disk is full): take the entry back so the
    // client's error is the whole truth (if even that fails the write is replayed later, which a
    // status write survives: the node sends its status again anyway)
    try {
      d.db.done(seq);
    } catch {
      // the journal keeps it
    }
    throw notRecorded(err, `${info.verb} ${info.resource}/${sub}`);
  }
}

function modifyJournaled(d: LocalWriteDeps, r: LocalWriteRequest, subresource: '' | 'status', journaled: (seq: number) => void): Promise<KubeObject> {
  const { info, res } = r;
  return d.replica.writeLocal(res, info.namespace, info.name, (cur) => {
    if (!cur) throw new HedgeError('NotFound', `${info.resource} "${info.name}" not found`, { details: { kind: info.resource, name: info.name } });
    const key = d.replica.key(res, info.namespace, info.name);
    const baseCloudRv = d.replica.baseCloudRv(key);
    let entry: JournalEntry;
    let next: KubeObject;
    if (info.verb === 'patch') {
      const patchType = patchTypes[r.contentType];
      if (!patchType) throw new HedgeError('UnsupportedMediaType', `offline the hub applies JSON, merge and strategic merge patches, not ${r.contentType}`);
      const patched = applyPatch(structuredClone(cur), patchType, r.body);
      if (!isPlainObject(patched) || !isPlainObject(patched.metadata)) throw new HedgeError('BadRequest', 'the patch does not leave an object');
      next = merge(cur, patched as KubeObject, subresource);
      entry = { kind: 'patch', resource: res, namespace: info.namespace, name: info.name, subresource, patchType, patch: r.body, baseCloudRv };
    } else if (info.verb === 'update') {
      if (!isPlainObject(r.body) || !isPlainObject(r.body.metadata)) throw new HedgeError('BadRequest', 'the body is not an object');
      const obj = r.body as KubeObject;
      const rv = obj.metadata.resourceVersion;
      if (rv && rv !== cur.metadata.resourceVersion) {
        throw conflict(info.resource, info.name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      next = merge(cur, obj, subresource);
      entry = { kind: 'update', resource: res, namespace: info.namespace, name: info.name, subresource, object: next, baseCloudRv };
    } else {
      throw unavailable(`${info.verb} ${info.resource}`);
    }
    // durable before the replica (and so any local reader) sees the write
    journaled(d.db.append(entry));
    return next;
  });
}

/** what the write may change: status for the status subresource, everything but status otherwise */
function merge(cur: KubeObject, next: KubeObject, subresource: '' | 'status'): KubeObject {
  if (subresource === 'status') return { ...cur, status: next.status };
  const { uid, name, namespace, creationTimestamp, deletionTimestamp, generation } = cur.metadata;
  return { ...next, status: cur.status, metadata: { ...next.metadata, uid, name, namespace, creationTimestamp, deletionTimestamp, generation } };
}

function journalEvent(d: LocalWriteDeps, r: LocalWriteRequest): KubeObject {
  const ev = structuredClone(r.body) as KubeObject;
  ev.metadata ??= {};
  ev.metadata.namespace ??= r.info.namespace || 'default';
  // a fixed name makes a replay after a crash idempotent (AlreadyExists = delivered)
  if (!ev.metadata.name) ev.metadata.name = `${ev.metadata.generateName ?? 'event.'}${randomBytes(5).toString('hex')}`;
  delete ev.metadata.generateName;
  ev.apiVersion ??= 'v1';
  ev.kind ??= 'Event';
  d.db.append({ kind: 'create', resource: r.res, namespace: ev.metadata.namespace, object: ev });
  return { ...ev, metadata: { ...ev.metadata, uid: randomUUID(), creationTimestamp: formatTime(d.now()) } };
}
