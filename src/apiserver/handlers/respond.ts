import type { ServerResponse } from 'node:http';
import { stringify as toYaml } from 'yaml';
import type { KubeObject } from '../../api/object.ts';
import { contentTypeOf, type OutputFormat } from '../negotiate.ts';
import type { Decoded } from '../registry/object-codec.ts';
import { statusFromError, type Status } from '../status.ts';
import type { RequestScope } from './scope.ts';
import { partialObjectMetadata, type IncludeObject } from './table.ts';

/** Warning header value as upstream formats it: `299 - "<text>"`. */
export function warningHeader(text: string): string {
  return `299 - ${JSON.stringify(text)}`;
}

export function setWarnings(res: ServerResponse, warnings: string[]): void {
  if (warnings.length > 0 && !res.headersSent) res.setHeader('Warning', warnings.map(warningHeader));
}

export function sendText(res: ServerResponse, code: number, body: string, contentType: string): void {
  sendBytes(res, code, Buffer.from(body), contentType);
}

export function sendBytes(res: ServerResponse, code: number, body: Buffer, contentType: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.statusCode = code;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'no-cache, private');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

const comma = Buffer.from(',');
const listTail = Buffer.from(']}');

export function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  sendText(res, code, JSON.stringify(body), contentType);
}

export function sendError(res: ServerResponse, err: unknown): Status {
  const status = statusFromError(err);
  if (status.code === 401) res.setHeader('WWW-Authenticate', 'Basic realm="kubernetes-master"');
  if (status.details?.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(status.details.retryAfterSeconds));
  sendJson(res, status.code, status);
  return status;
}

export function includeObjectParam(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

/** Write one object in the negotiated format. */
export function sendObject(rq: RequestScope, code: number, d: Decoded | KubeObject, fmt: OutputFormat): void {
  setWarnings(rq.res, rq.warnings);
  const decoded = isDecoded(d) ? d : undefined;
  if (fmt.kind === 'json' || fmt.kind === 'discovery') {
    // the bytes alone: a written object's is parsed only when asked for (see ObjectCodec.decodeWritten)
    if (decoded) sendBytes(rq.res, code, decoded.buf(), 'application/json');
    else sendText(rq.res, code, JSON.stringify(d), 'application/json');
    return;
  }
  const obj = decoded ? decoded.obj : (d as KubeObject);
  switch (fmt.kind) {
    case 'yaml':
      sendText(rq.res, code, toYaml(obj), contentTypeOf(fmt));
      return;
    case 'table': {
      if (obj.kind === 'Status') {
        sendJson(rq.res, code, obj);
        return;
      }
      const t = rq.server.table(rq.def, [obj], { now: new Date(), includeObject: includeObjectParam(rq.query) });
      sendJson(
        rq.res,
        code,
        { kind: 'Table', apiVersion: `meta.k8s.io/${fmt.version}`, metadata: { resourceVersion: obj.metadata.resourceVersion }, ...t },
        contentTypeOf(fmt),
      );
      return;
    }
    case 'partial':
      if (obj.kind === 'Status') {
        sendJson(rq.res, code, obj);
        return;
      }
      sendJson(rq.res, code, partialObjectMetadata(obj, fmt.version), contentTypeOf(fmt));
      return;
  }
}

function isDecoded(d: Decoded | KubeObject): d is Decoded {
  return typeof (d as Decoded).json === 'function' && typeof (d as Decoded).rev === 'number';
}

export interface ListMeta {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** Write a list; JSON concatenates each item's cached serialization instead of re-encoding. */
export function sendList(rq: RequestScope, items: Decoded[], meta: ListMeta, fmt: OutputFormat): void {
  setWarnings(rq.res, rq.warnings);
  const { def } = rq;
  const apiVersion = def.group ? `${def.group}/${def.version}` : def.version;
  switch (fmt.kind) {
    case 'json':
    case 'discovery': {
      const head = Buffer.from(`{"kind":${JSON.stringify(def.listKind)},"apiVersion":${JSON.stringify(apiVersion)},"metadata":${JSON.stringify(meta)},"items":[`);
      // copy each item's cached bytes into one body: no re-serialization, no string join and re-encode
      const parts: Buffer[] = [head];
      let length = head.length + listTail.length;
      for (let i = 0; i < items.length; i++) {
        if (i > 0) parts.push(comma);
        const b = items[i].buf();
        parts.push(b);
        length += b.length + (i > 0 ? 1 : 0);
      }
      parts.push(listTail);
      sendBytes(rq.res, 200, Buffer.concat(parts, length), 'application/json');
      return;
    }
    case 'yaml':
      sendText(
        rq.res,
        200,
        toYaml({ kind: def.listKind, apiVersion, metadata: meta, items: items.map((d) => d.obj) }),
        contentTypeOf(fmt),
      );
      return;
    case 'table': {
      const includeObject = includeObjectParam(rq.query);
      const objs = items.map((d) => d.obj);
      if (includeObject === 'Metadata') {
        sendTableWithMetadata(rq, items, rq.server.table(def, objs, { now: new Date(), includeObject: 'None' }), meta, fmt.version);
        return;
      }
      const t = rq.server.table(def, objs, { now: new Date(), includeObject });
      sendJson(rq.res, 200, { kind: 'Table', apiVersion: `meta.k8s.io/${fmt.version}`, metadata: meta, ...t }, contentTypeOf(fmt));
      return;
    }
    case 'partial':
      sendJson(
        rq.res,
        200,
        {
          kind: 'PartialObjectMetadataList',
          apiVersion: `meta.k8s.io/${fmt.version}`,
          metadata: meta,
          items: items.map((d) => partialObjectMetadata(d.obj, fmt.version)),
        },
        contentTypeOf(fmt),
      );
      return;
  }
}

/** each object's PartialObjectMetadata row object, serialized once per revision */
const partialRows = new WeakMap<Decoded, Buffer>();
function partialRow(d: Decoded): Buffer {
  let b = partialRows.get(d);
  if (!b) {
    b = Buffer.from(JSON.stringify(partialObjectMetadata(d.obj)));
    partialRows.set(d, b);
  }
  return b;
}

/**
 * The Table kubectl asks for (rows carry PartialObjectMetadata): cells are computed per request
 * (ages change), the metadata - most of the bytes, managedFields included - is spliced in from
 * a per-revision cache. Same JSON as serializing the whole Table.
 */
function sendTableWithMetadata(rq: RequestScope, items: Decoded[], t: ReturnType<RequestScope['server']['table']>, meta: ListMeta, version: 'v1' | 'v1beta1'): void {
  const head = JSON.stringify({ kind: 'Table', apiVersion: `meta.k8s.io/${version}`, metadata: meta, columnDefinitions: t.columnDefinitions });
  const parts: Buffer[] = [Buffer.from(`${head.slice(0, -1)},"rows":[`)];
  for (let i = 0; i < t.rows.length; i++) {
    parts.push(Buffer.from(`${i > 0 ? ',' : ''}{"cells":${JSON.stringify(t.rows[i].cells)},"object":`), partialRow(items[i]), rowTail);
  }
  parts.push(listTail);
  sendBytes(rq.res, 200, Buffer.concat(parts), contentTypeOf({ kind: 'table', version }));
}
const rowTail = Buffer.from('}');
