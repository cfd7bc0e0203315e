import type { KubeObject } from '../../api/object.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import type { KeyValue, WatchEvent, WatchTrigger } from '../../store/types.ts';
import { isTrue } from '../request-info.ts';
import { contentTypeOf, negotiateOutput, type OutputFormat } from '../negotiate.ts';
import type { Decoded } from '../registry/object-codec.ts';
import { statusErrors, statusFromError } from '../status.ts';
import type { FieldSelector } from '../../api/fields/index.ts';
import { compileMatcher, namespaceOf, parseNonNegativeInt, parseResourceVersion, sharedFieldSet } from './read.ts';
import { includeObjectParam, setWarnings } from './respond.ts';
import type { RequestScope } from './scope.ts';
import { partialObjectMetadata } from './table.ts';
import { keptConcat } from '../../lib/kept-buffer.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

const initialEventsEndAnnotation = 'k8s.io/initial-events-end';

/**
 * A watch over HTTP/1.1 chunked JSON lines, as upstream's watch handler serves it:
 * optional initial state, then store events translated with selector semantics
 * (an object entering the selection is ADDED, leaving it is DELETED).
 */
export async function handleWatch(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'watch');
  const q = rq.query;
  const { match, filtering, fields } = compileMatcher(rq);
  const rv = parseResourceVersion(q.get('resourceVersion'));
  const rvMatch = q.get('resourceVersionMatch') ?? '';
  const bookmarks = isTrue(q.get('allowWatchBookmarks'));
  const sendInitialParam = q.get('sendInitialEvents');
  const timeoutSeconds = parseNonNegativeInt(q.get('timeoutSeconds'), 'timeoutSeconds');
  if (sendInitialParam !== null && rvMatch !== 'NotOlderThan') {
    throw new HedgeError('Invalid', 'resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan', {
      details: {
        causes: [{ reason: 'FieldValueForbidden', field: 'resourceVersionMatch', message: 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan' }],
      },
    });
  }
  if (rvMatch !== '' && rvMatch !== 'NotOlderThan') {
    throw new HedgeError('BadRequest', `resourceVersionMatch: Unsupported value: "${rvMatch}": supported values: "NotOlderThan"`);
  }
  const sendInitial = sendInitialParam !== null ? isTrue(sendInitialParam) : rv === undefined || rv === 0;
  const reg = rq.server.registry;
  const ns = namespaceOf(rq);
  const prefix = rq.rs.prefix(ns || undefined);
  const apiVersion = rq.def.group ? `${rq.def.group}/${rq.def.version}` : rq.def.version;

  const abort = new AbortController();
  const stop = (): void => abort.abort();
  rq.signal.addEventListener('abort', stop, { once: true });
  const unlistenClosing = onAbort(rq.server.closing, stop);
  const seconds = timeoutSeconds && timeoutSeconds > 0 ? timeoutSeconds : rq.server.defaultWatchTimeoutSeconds;
  const timer = setTimeout(stop, seconds * 1000);

  const res = rq.res;
  setWarnings(res, rq.warnings);
  res.statusCode = 200;
  res.setHeader('Content-Type', contentTypeOf(fmt.kind === 'json' || fmt.kind === 'yaml' ? { kind: 'json' } : fmt));
  res.setHeader('Cache-Control', 'no-cache, private');
  res.setHeader('Transfer-Encoding', 'chunked');
  res.flushHeaders();

  const write = (type: WatchEventType, obj: unknown, decoded?: Decoded): void => {
    res.write(decoded ? eventLine(type, decoded) : `{"type":"${type}","object":${JSON.stringify(obj)}}\n`);
  };
  // upstream sends Table column definitions with the first event only
  const state = { columnsSent: false };
  const send = (type: Exclude<WatchEventType, 'BOOKMARK' | 'ERROR'>, d: Decoded): void => {
    writeObjectEvent(state, rq, fmt, type, { decoded: d }, write);
  };
  const sendObj = (type: Exclude<WatchEventType, 'BOOKMARK' | 'ERROR'>, obj: KubeObject): void => {
    writeObjectEvent(state, rq, fmt, type, { obj }, write);
  };
  const bookmark = (revision: number, annotations?: Record<string, string>): void => {
    const metadata: { resourceVersion: string; annotations?: Record<string, string> } = { resourceVersion: String(revision) };
    if (annotations) metadata.annotations = annotations;
    write('BOOKMARK', { kind: rq.def.kind, apiVersion, metadata });
  };

  try {
    let from: number;
    if (sendInitial) {
      const list = await reg.store.list(prefix, {});
      for (const kv of list.items) {
        const d = rq.rs.codec.decode(kv);
        if (match(d.obj)) send('ADDED', d);
        if (res.writableNeedDrain) await drained(res, abort.signal);
      }
      from = list.revision + 1;
      if (sendInitialParam !== null && bookmarks) bookmark(list.revision, { [initialEventsEndAnnotation]: 'true' });
    } else if (rv !== undefined && rv > 0) {
      from = rv + 1;
    } else {
      from = (await reg.store.currentRevision()) + 1;
    }
    const compacted = await reg.store.compactedRevision();
    if (rv !== undefined && rv > 0 && !sendInitial && rv < compacted) throw statusErrors.tooOldResourceVersion(rv, compacted);
    const events = reg.store.watch(prefix, {
      fromRevision: from,
      signal: abort.signal,
      progressIntervalMs: bookmarks ? rq.server.bookmarkIntervalMs : undefined,
      trigger: watchTrigger(rq, fields),
    });
    // initialized: the initial events are written and the watch is registered with the store
    rq.watchInitialized?.();
    for await (const ev of events) {
      if (abort.signal.aborted) break;
      translate(ev);
      // A slow client slows its own watch instead of growing our buffers without bound.
      if (res.writableNeedDrain) await drained(res, abort.signal);
    }
  } catch (err) {
    if (!abort.signal.aborted) {
      const e =
        isHedgeError(err, 'Gone') && !/too old resource version/.test(err.message)
          ? statusErrors.tooOldResourceVersion(rv ?? 0, await reg.store.compactedRevision().catch(() => 0))
          : err;
      if (!isHedgeError(e)) rq.log.error({ err: e }, 'watch failed');
      write('ERROR', statusFromError(e));
    }
  } finally {
    clearTimeout(timer);
    rq.signal.removeEventListener('abort', stop);
    unlistenClosing();
    abort.abort();
    res.end();
  }

  function translate(ev: WatchEvent): void {
    switch (ev.type) {
      case 'progress':
        if (bookmarks) bookmark(ev.revision);
        return;
      case 'put': {
        const d = rq.rs.codec.decode(ev.kv);
        // unfiltered, the object is not looked at (one this apiserver wrote is not even parsed)
        const now = !filtering || match(d.obj);
        let before: boolean;
        let prev: KubeObject | undefined;
        if (ev.kv.createRevision === ev.kv.modRevision) before = false;
        // without a selector an update is always MODIFIED: no need to decode the previous value
        else if (ev.prevKv && filtering) {
          prev = previousObject(rq.rs, ev.prevKv, ev.kv.modRevision);
          before = match(prev);
        } else before = now;
        if (now && before) send('MODIFIED', d);
        else if (now) send('ADDED', d);
        else if (before && prev) sendObj('DELETED', prev);
        return;
      }
      case 'delete': {
        const d = rq.rs.codec.decodeDeleted(ev.kv);
        if (match(d.obj)) send('DELETED', d);
        return;
      }
    }
  }
}

/**
 * the fields a watch may be indexed by, as upstream's trigger functions: pods by spec.nodeName
 * (every node's pod watch), nodes by metadata.name (every node's watch of its own Node)
 */
const TRIGGER_FIELDS: Record<string, string> = { pods: 'spec.nodeName', nodes: 'metadata.name' };
/** one values function per resource store, so the store computes each event's values once */
const triggerValues = new WeakMap<RequestScope['rs'], WatchTrigger['values']>();

/**
 * A store hint for a watch whose field selector pins the resource's trigger field to one value
 * (`spec.nodeName=<node>`, every node's pod watch): the store then wakes this watch only for
 * events whose object, or previous object, has that value. The watch still filters what it gets.
 */
function watchTrigger(rq: RequestScope, fields: FieldSelector): WatchTrigger | undefined {
  if (rq.def.group !== '') return undefined;
  const field = TRIGGER_FIELDS[rq.def.plural];
  if (field === undefined) return undefined;
  const req = fields.requirements.find((r) => r.field === field && (r.operator === '=' || r.operator === '=='));
  if (req === undefined) return undefined;
  let values = triggerValues.get(rq.rs);
  if (values === undefined) {
    // kept as long as the resource store: holds its def and store, never this request
    const { def, rs } = rq;
    const valueOf = (obj: KubeObject): string => sharedFieldSet(def, obj)[field] ?? '';
    values = (ev) => {
      if (ev.type === 'delete') return [valueOf(rs.codec.decodeDeleted(ev.kv).obj)];
      const now = valueOf(rs.codec.decode(ev.kv).obj);
      if (!ev.prevKv || ev.kv.createRevision === ev.kv.modRevision) return [now];
      return [now, valueOf(previousObject(rs, ev.prevKv, ev.kv.modRevision))];
    };
    triggerValues.set(rq.rs, values);
  }
  return { values, value: req.value };
}

/**
 * The previous value of an update, decoded once per event: the store hands every watcher the
 * same event object, and each filtering watcher (a node's `spec.nodeName=` pod watch) needs it.
 */
const previous = new WeakMap<KeyValue, KubeObject>();
function previousObject(rs: RequestScope['rs'], prevKv: KeyValue, rev: number): KubeObject {
  let obj = previous.get(prevKv);
  if (obj === undefined) {
    obj = rs.codec.decodeUncached(prevKv.key, prevKv.value, rev).obj;
    previous.set(prevKv, obj);
  }
  return obj;
}

/**
 * Every open watch listens for server shutdown. EventTarget checks each new listener against all
 * present ones, so 1,000 watchers on one signal cost O(n^2); one listener per signal fanning out
 * to a Set keeps each watch O(1).
 */
const abortFanouts = new WeakMap<AbortSignal, Set<() => void>>();
function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  let fns = abortFanouts.get(signal);
  if (!fns) {
    const set = new Set<() => void>();
    fns = set;
    abortFanouts.set(signal, set);
    signal.addEventListener('abort', () => {
      for (const f of [...set]) f();
      set.clear();
    }, { once: true });
  }
  fns.add(fn);
  const registered = fns;
  return () => void registered.delete(fn);
}

function drained(res: RequestScope['res'], signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

function writeObjectEvent(
  state: { columnsSent: boolean },
  rq: RequestScope,
  fmt: OutputFormat,
  type: WatchEventType,
  /** a decoded object's JSON line is shared; its object is looked at only for the formats that need it */
  of: { decoded: Decoded } | { obj: KubeObject },
  write: (type: WatchEventType, obj: unknown, decoded?: Decoded) => void,
): void {
  const decoded = 'decoded' in of ? of.decoded : undefined;
  if (fmt.kind !== 'table' && fmt.kind !== 'partial') {
    write(type, decoded ? undefined : (of as { obj: KubeObject }).obj, decoded);
    return;
  }
  const obj = decoded ? decoded.obj : (of as { obj: KubeObject }).obj;
  switch (fmt.kind) {
    case 'table': {
      const t = rq.server.table(rq.def, [obj], {
        now: new Date(),
        includeObject: includeObjectParam(rq.query),
        includeColumns: !state.columnsSent,
      });
      state.columnsSent = true;
      write(type, { kind: 'Table', apiVersion: `meta.k8s.io/${fmt.version}`, metadata: { resourceVersion: obj.metadata.resourceVersion }, ...t });
      return;
    }
    case 'partial':
      write(type, partialObjectMetadata(obj, fmt.version));
      return;
  }
}

/**
 * One event's JSON line, encoded once and shared by every watcher that sends it (decoded objects
 * are shared per key+revision), so a write fanned out to 1,000 watchers is serialized once.
 */
const closeLine = Buffer.from('}\n');
const eventLines = new WeakMap<Decoded, Partial<Record<WatchEventType, Buffer>>>();
function eventLine(type: WatchEventType, d: Decoded): Buffer {
  let lines = eventLines.get(d);
  if (!lines) {
    lines = {};
    eventLines.set(d, lines);
  }
  if (!lines[type]) {
    const head = Buffer.from(`{"type":"${type}","object":`);
    const obj = d.buf();
    lines[type] = keptConcat([head, obj, closeLine]);
  }
  return lines[type];
}
