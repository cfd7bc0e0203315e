import { compileFieldSelector, fieldSet, type FieldSelector, matchesFields } from '../../api/fields/index.ts';
import { isEverything, matches as labelsMatch, parseSelector } from '../../api/labels/index.ts';
import type { KubeObject } from '../../api/object.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import { negotiateOutput } from '../negotiate.ts';
import type { Decoded } from '../registry/object-codec.ts';
import { statusErrors } from '../status.ts';
import { decodeContinue, encodeContinue } from './continue-token.ts';
import { sendList, sendObject } from './respond.ts';
import type { RequestScope } from './scope.ts';

export type Matcher = (obj: KubeObject) => boolean;

/**
 * Field sets of decoded (shared, read-only, one per revision) objects: with a thousand nodes each
 * watching `spec.nodeName=<node>`, every pod event was turned into the same field set once per
 * watcher. Keyed by object identity, so a new revision (a new object) never sees a stale set.
 */
const fieldSets = new WeakMap<KubeObject, Readonly<Record<string, string>>>();
export function sharedFieldSet(def: RequestScope['def'], obj: KubeObject): Readonly<Record<string, string>> {
  let set = fieldSets.get(obj);
  if (set === undefined) {
    set = fieldSet(def, obj);
    fieldSets.set(obj, set);
  }
  return set;
}

/** labelSelector + fieldSelector (+ the name from a /watch/.../name path) as one predicate. */
export function compileMatcher(rq: RequestScope): { match: Matcher; filtering: boolean; fields: FieldSelector } {
  const q = rq.query;
  const labels = parseSelector(q.get('labelSelector') ?? '');
  const fields = compileFieldSelector(q.get('fieldSelector') ?? '', rq.def);
  const name = rq.info.name;
  const hasLabels = !isEverything(labels) || labels.nothing === true;
  const hasFields = fields.selector.requirements.length > 0;
  if (!hasLabels && !hasFields && !name) return { match: () => true, filtering: false, fields: fields.selector };
  return {
    filtering: true,
    fields: fields.selector,
    match: (obj) =>
      (!name || obj.metadata.name === name) &&
      (!hasLabels || labelsMatch(labels, obj.metadata.labels as Record<string, string> | undefined)) &&
      (!hasFields || matchesFields(fields.selector, sharedFieldSet(rq.def, obj))),
  };
}

export function parseNonNegativeInt(v: string | null, param: string): number | undefined {
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new HedgeError('BadRequest', `invalid value for ${param}: ${JSON.stringify(v)}: must be an integer`);
  const n = Number(v);
  if (n < 0) throw new HedgeError('BadRequest', `invalid value for ${param}: ${v}: must be non-negative`);
  return n;
}

export function parseResourceVersion(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  // upstream parses a uint64; anything past what a double holds exactly is not a revision we issued
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new HedgeError('BadRequest', `invalid resource version: ${v}`);
  return Number(v);
}

export function namespaceOf(rq: RequestScope): string {
  return rq.def.namespaced ? rq.info.namespace : '';
}

export async function handleGet(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'object');
  const d = await rq.rs.get(namespaceOf(rq), rq.info.name);
  sendObject(rq, 200, d, fmt);
}

export async function handleList(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'list');
  const q = rq.query;
  const { match, filtering } = compileMatcher(rq);
  const limit = parseNonNegativeInt(q.get('limit'), 'limit') ?? 0;
  const rv = parseResourceVersion(q.get('resourceVersion'));
  const rvMatch = q.get('resourceVersionMatch') ?? '';
  const cont = q.get('continue') ?? '';
  if (rvMatch !== '' && rvMatch !== 'NotOlderThan' && rvMatch !== 'Exact') {
    throw new HedgeError('BadRequest', `resourceVersionMatch: Unsupported value: "${rvMatch}": supported values: "Exact", "NotOlderThan"`);
  }
  if (rvMatch !== '' && rv === undefined) {
    throw new HedgeError('BadRequest', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
  }
  if (cont && rvMatch !== '') throw new HedgeError('BadRequest', 'resourceVersionMatch is forbidden when continue is provided');
  if (rvMatch === 'Exact' && rv === 0) {
    throw new HedgeError('BadRequest', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
  }

  const ns = namespaceOf(rq);
  const prefix = rq.rs.prefix(ns || undefined);
  let revision: number | undefined;
  let startAfter: string | undefined;
  if (cont) {
    const t = decodeContinue(cont);
    revision = t.rv;
    startAfter = prefix + t.start;
  } else if (rv !== undefined && rv > 0) {
    const current = await rq.server.registry.store.currentRevision();
    if (rv > current) {
      throw new HedgeError('Timeout', `Too large resource version: ${rv}, current: ${current}`, {
        details: { causes: [{ reason: 'ResourceVersionTooLarge', field: '', message: 'Too large resource version' }], retryAfterSeconds: 1 },
      });
    }
    if (rvMatch === 'Exact') revision = rv;
  }

  const items: Decoded[] = [];
  let listRevision = revision;
  let more = false;
  let lastKey: string | undefined;
  let remaining = 0;
  // Selectors filter after reading, so keep reading pages until `limit` matches or the prefix ends.
  const pageSize = limit > 0 ? (filtering ? Math.max(limit, 500) : limit) : 0;
  for (;;) {
    let page;
    try {
      page = await rq.rs.list(ns || undefined, { limit: pageSize || undefined, startAfter, revision: listRevision });
    } catch (err) {
      if (isHedgeError(err, 'Gone')) {
        if (cont) throw statusErrors.continueExpired();
        const compacted = await rq.server.registry.store.compactedRevision();
        throw statusErrors.tooOldResourceVersion(listRevision ?? 0, compacted);
      }
      throw err;
    }
    listRevision = page.revision;
    let i = 0;
    for (; i < page.items.length; i++) {
      const kv = page.items[i];
      lastKey = kv.key;
      const d = rq.rs.codec.decode(kv);
      if (!filtering || match(d.obj)) items.push(d);
      if (limit > 0 && items.length >= limit) {
        i++;
        break;
      }
    }
    const leftInPage = page.items.length - i;
    if (limit > 0 && items.length >= limit) {
      more = leftInPage > 0 || page.more;
      remaining = leftInPage + (page.more ? page.remaining : 0);
      break;
    }
    if (!page.more || page.items.length === 0) break;
    startAfter = lastKey;
  }
  const meta: { resourceVersion: string; continue?: string; remainingItemCount?: number } = {
    resourceVersion: String(listRevision ?? 0),
  };
  if (more && lastKey !== undefined) {
    meta.continue = encodeContinue({ rv: listRevision ?? 0, start: lastKey.slice(prefix.length) });
    if (!filtering) meta.remainingItemCount = remaining;
  }
  sendList(rq, items, meta, fmt);
}
