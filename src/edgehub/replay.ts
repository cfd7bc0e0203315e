import { createHash } from 'node:crypto';
import type { KubeObject } from '../api/object.ts';
import { formatMicroTime, formatTime } from '../client/micro-time.ts';
import { applyPatch } from '../client/patch.ts';
import { Resources } from '../client/resources.ts';
import type { KubeClient, ResourceRef } from '../client/types.ts';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { HubDb, JournalEntry } from './hub-db.ts';
import type { Replica } from './replica.ts';

export interface ReplayDeps {
  db: HubDb;
  cloud: KubeClient;
  replica: Replica;
  nodeName: string;
  logger: Logger;
  now?: () => number;
}

export interface ReplayResult {
  applied: number;
  /** entries the cloud refused for good (the object is gone, the write is invalid): logged and dropped */
  dropped: number;
  conflicts: number;
}

/** Errors that mean "this write will never succeed": drop it rather than wedge the journal. */
const permanent = new Set(['NotFound', 'Invalid', 'BadRequest', 'Forbidden', 'MethodNotAllowed', 'UnsupportedMediaType', 'RequestEntityTooLarge']);

/**
 * The fields a node owns on what it journals (statuses: its Node's, its pods'), re-applied on top
 * of the cloud's current object; everything else stays the cloud's.
 */
export function nodeOwnedFields(entry: Extract<JournalEntry, { kind: 'update' }>, cloud: KubeObject): KubeObject {
  return { ...cloud, status: entry.object.status };
}

/**
 * Send the journal to the cloud in order. Each entry leaves the journal in the same transaction
 * that records the cloud resourceVersion it produced (`HubDb.applied`), before the replica is
 * updated: a crash before that re-sends the entry, which is harmless: an entry the cloud object
 * already reflects is not written again (and is no conflict), patches and node-owned-field
 * updates are idempotent, journaled creates carry a fixed name (AlreadyExists = already done),
 * and conflict Events a fixed name per entry. A transport or server error stops the replay (the
 * rest stays journaled, in order, for the next reconnect).
 */
export async function replayJournal(d: ReplayDeps, signal: AbortSignal): Promise<ReplayResult> {
  const result: ReplayResult = { applied: 0, dropped: 0, conflicts: 0 };
  for (const { seq, entry } of d.db.pending()) {
    if (signal.aborted) throw new HedgeError('Unavailable', 'replay stopped');
    let out: Replayed;
    try {
      out = await replayOne(d, seq, entry, signal);
      if (out.conflict) result.conflicts++;
      result.applied++;
    } catch (err) {
      if (!isHedgeError(err) || !permanent.has(err.code)) throw err;
      d.logger.warn({ err, entry: describe(entry) }, 'journaled write refused by the cloud; dropped');
      result.dropped++;
      out = { conflict: false };
    }
    const key = entry.kind === 'create' ? undefined : d.replica.key(entry.resource, entry.namespace, entry.name);
    d.db.applied(seq, key && out.written ? { key, cloudRv: out.written.metadata.resourceVersion ?? '' } : undefined);
    if (out.written && entry.resource.plural !== 'events') {
      // the replica is a cache: if it cannot take the answer now (disk full), the reflector's
      // resumed watch brings it; the journal entry is done either way
      await d.replica.putFromCloud(entry.resource, out.written).catch((err: unknown) => d.logger.warn({ err, entry: describe(entry) }, 'replayed write not stored in the replica'));
    }
  }
  return result;
}

interface Replayed {
  conflict: boolean;
  /** the cloud object after the write (or as it already was) */
  written?: KubeObject;
}

function describe(e: JournalEntry): string {
  const name = e.kind === 'create' ? (e.object.metadata.name ?? '') : e.name;
  return `${e.kind} ${e.resource.plural}${e.kind !== 'create' && e.subresource ? `/${e.subresource}` : ''} ${e.namespace ? `${e.namespace}/` : ''}${name}`;
}

/** what the entry leaves of `obj`, in the fields it may change (status for the status subresource) */
function written(entry: Exclude<JournalEntry, { kind: 'create' }>, obj: KubeObject): unknown {
  // an update re-applies the node-owned fields only (nodeOwnedFields): its status
  return entry.subresource === 'status' || entry.kind === 'update' ? (obj.status ?? null) : { ...obj, status: undefined, metadata: { ...obj.metadata, resourceVersion: undefined, managedFields: undefined } };
}

/** whether the cloud's object already carries the entry (sent before a crash, or made moot): nothing to write */
function reflects(entry: Exclude<JournalEntry, { kind: 'create' }>, current: KubeObject): boolean {
  try {
    const next = entry.kind === 'patch' ? (applyPatch(structuredClone(current), entry.patchType, entry.patch) as KubeObject) : nodeOwnedFields(entry, current);
    return JSON.stringify(written(entry, next)) === JSON.stringify(written(entry, current));
  } catch {
    return false;
  }
}

async function replayOne(d: ReplayDeps, seq: number, entry: JournalEntry, signal: AbortSignal): Promise<Replayed> {
  const { cloud, replica } = d;
  switch (entry.kind) {
    case 'create': {
      try {
        return { conflict: false, written: await cloud.create(entry.resource, entry.object, { signal }) };
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
        return { conflict: false };
      }
    }
    case 'patch': {
      const key = replica.key(entry.resource, entry.namespace, entry.name);
      const current = await cloud.get(entry.resource, entry.name, { namespace: entry.namespace || undefined, signal });
      if (reflects(entry, current)) return { conflict: false, written: current };
      const conflict = isConflict(entry.baseCloudRv, current, d.db.replayedRv(key));
      if (conflict) await reportConflict(d, seq, entry.resource, current, entry.baseCloudRv, signal);
      const patched = await cloud.patch(entry.resource, entry.name, entry.patchType, entry.patch, {
        namespace: entry.namespace || undefined,
        subresource: entry.subresource || undefined,
        signal,
      });
      return { conflict, written: patched };
    }
    case 'update': {
      const key = replica.key(entry.resource, entry.namespace, entry.name);
      let conflict = false;
      for (let attempt = 0; ; attempt++) {
        const current = await cloud.get(entry.resource, entry.name, { namespace: entry.namespace || undefined, signal });
        if (attempt === 0 && reflects(entry, current)) return { conflict: false, written: current };
        if (attempt === 0 && isConflict(entry.baseCloudRv, current, d.db.replayedRv(key))) {
          conflict = true;
          await reportConflict(d, seq, entry.resource, current, entry.baseCloudRv, signal);
        }
        const next = nodeOwnedFields(entry, current);
        try {
          const out = entry.subresource === 'status' ? await cloud.updateStatus(entry.resource, next, { signal }) : await cloud.update(entry.resource, next, { signal });
          return { conflict, written: out };
        } catch (err) {
          // someone wrote in between our read and write: read again and re-apply
          if (!isHedgeError(err, 'Conflict') || attempt >= 5) throw err;
        }
      }
    }
  }
}

function isConflict(base: string, current: KubeObject, ourLast: string | undefined): boolean {
  const rv = current.metadata.resourceVersion ?? '';
  return base !== '' && rv !== base && rv !== ourLast;
}

/** A node-owned write made offline met a cloud-side change: tell the humans, as an Event on the object. */
async function reportConflict(d: ReplayDeps, seq: number, res: ResourceRef, current: KubeObject, base: string, signal: AbortSignal): Promise<void> {
  const now = (d.now ?? Date.now)();
  const ns = current.metadata.namespace || 'default';
  const name = current.metadata.name ?? '';
  const message = `${res.kind ?? res.plural} ${name} changed in the cloud (resourceVersion ${base} → ${current.metadata.resourceVersion ?? ''}) while node ${d.nodeName} was offline; the node's fields were re-applied on top`;
  d.logger.info({ object: `${res.plural}/${ns}/${name}` }, message);
  try {
    await d.cloud.create(
      Resources.events,
      {
        apiVersion: 'v1',
        kind: 'Event',
        // one name per journal entry: a replay repeated after a crash finds it AlreadyExists
        metadata: { name: `${name}.${createHash('sha256').update(`${d.nodeName}|${ns}|${name}|${base}|${seq}`).digest('hex').slice(0, 16)}`, namespace: ns },
        involvedObject: { kind: res.kind, apiVersion: res.group ? `${res.group}/${res.version}` : res.version, namespace: current.metadata.namespace, name, uid: current.metadata.uid },
        type: 'Warning',
        reason: 'OfflineWriteConflict',
        message,
        source: { component: 'edgehub', host: d.nodeName },
        reportingComponent: 'edgehub',
        reportingInstance: d.nodeName,
        firstTimestamp: formatTime(now),
        lastTimestamp: formatTime(now),
        eventTime: formatMicroTime(now),
        action: 'Replay',
        count: 1,
      },
      { signal },
    );
  } catch (err) {
    if (isHedgeError(err, 'AlreadyExists')) return;
    d.logger.warn({ err }, 'could not record the offline write conflict as an Event');
  }
}
