import { randomBytes } from 'node:crypto';
import type { KubeObject } from '../api/object.ts';
import { formatMicroTime, formatTime } from '../client/micro-time.ts';
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
 * Send the journal to the cloud in order. Each entry is removed only after the cloud accepted it;
 * a crash in between sends it again, which is harmless: patches and node-owned-field updates are
 * idempotent and journaled creates carry a fixed name (AlreadyExists = already done). A transport
 * or server error stops the replay (the rest stays journaled, in order, for the next reconnect).
 */
export async function replayJournal(d: ReplayDeps, signal: AbortSignal): Promise<ReplayResult> {
  const result: ReplayResult = { applied: 0, dropped: 0, conflicts: 0 };
  /** the cloud resourceVersion our own replayed write produced, per object (not a conflict) */
  const ours = new Map<string, string>();
  for (const { seq, entry } of d.db.pending()) {
    if (signal.aborted) throw new HedgeError('Unavailable', 'replay stopped');
    try {
      const out = await replayOne(d, entry, ours, signal);
      if (out.conflict) result.conflicts++;
      result.applied++;
    } catch (err) {
      if (isHedgeError(err) && permanent.has(err.code)) {
        d.logger.warn({ err, entry: describe(entry) }, 'journaled write refused by the cloud; dropped');
        result.dropped++;
      } else {
        throw err;
      }
    }
    d.db.done(seq);
  }
  return result;
}

function describe(e: JournalEntry): string {
  const name = e.kind === 'create' ? (e.object.metadata.name ?? '') : e.name;
  return `${e.kind} ${e.resource.plural}${e.kind !== 'create' && e.subresource ? `/${e.subresource}` : ''} ${e.namespace ? `${e.namespace}/` : ''}${name}`;
}

async function replayOne(d: ReplayDeps, entry: JournalEntry, ours: Map<string, string>, signal: AbortSignal): Promise<{ conflict: boolean }> {
  const { cloud, replica } = d;
  switch (entry.kind) {
    case 'create': {
      try {
        const created = await cloud.create(entry.resource, entry.object, { signal });
        if (entry.resource.plural !== 'events') await replica.putFromCloud(entry.resource, created);
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }
      return { conflict: false };
    }
    case 'patch': {
      const key = replica.key(entry.resource, entry.namespace, entry.name);
      const current = await cloud.get(entry.resource, entry.name, { namespace: entry.namespace || undefined, signal });
      const conflict = isConflict(entry.baseCloudRv, current, ours.get(key));
      if (conflict) await reportConflict(d, entry.resource, current, entry.baseCloudRv, signal);
      const patched = await cloud.patch(entry.resource, entry.name, entry.patchType, entry.patch, {
        namespace: entry.namespace || undefined,
        subresource: entry.subresource || undefined,
        signal,
      });
      ours.set(key, patched.metadata.resourceVersion ?? '');
      await replica.putFromCloud(entry.resource, patched);
      return { conflict };
    }
    case 'update': {
      const key = replica.key(entry.resource, entry.namespace, entry.name);
      let conflict = false;
      for (let attempt = 0; ; attempt++) {
        const current = await cloud.get(entry.resource, entry.name, { namespace: entry.namespace || undefined, signal });
        if (attempt === 0 && isConflict(entry.baseCloudRv, current, ours.get(key))) {
          conflict = true;
          await reportConflict(d, entry.resource, current, entry.baseCloudRv, signal);
        }
        const next = nodeOwnedFields(entry, current);
        try {
          const written =
            entry.subresource === 'status' ? await cloud.updateStatus(entry.resource, next, { signal }) : await cloud.update(entry.resource, next, { signal });
          ours.set(key, written.metadata.resourceVersion ?? '');
          await replica.putFromCloud(entry.resource, written);
          return { conflict };
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
async function reportConflict(d: ReplayDeps, res: ResourceRef, current: KubeObject, base: string, signal: AbortSignal): Promise<void> {
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
        metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace: ns },
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
    d.logger.warn({ err }, 'could not record the offline write conflict as an Event');
  }
}
