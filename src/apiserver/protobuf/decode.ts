import type { KubeObject } from '../../api/object.ts';
import { HedgeError } from '../../lib/errors.ts';
import { protobufKinds, schemas, type FieldSpec, type Schema } from './schemas.ts';
import { readFields, type WireValue } from './wire.ts';

/** Kubernetes' protobuf envelope: the magic prefix, then a runtime.Unknown. */
const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

function str(v: WireValue): string {
  if (v.wire !== 2) throw new HedgeError('BadRequest', 'malformed protobuf body: expected a string');
  try {
    return utf8.decode(v.value);
  } catch {
    throw new HedgeError('BadRequest', 'malformed protobuf body: string is not valid UTF-8');
  }
}

function int(v: WireValue, bits: 32 | 64): number {
  if (v.wire !== 0) throw new HedgeError('BadRequest', 'malformed protobuf body: expected a varint');
  return Number(BigInt.asIntN(bits, v.value));
}

function decodeMessage(buf: Buffer, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { field, v } of readFields(buf)) {
    const spec: FieldSpec | undefined = schema[field];
    // fields we do not know are skipped, as proto3 parsers do
    if (!spec) continue;
    const value = decodeValue(v, spec);
    // gogo-protobuf writes non-pointer zero values; JSON (omitempty) leaves them out.
    if (value === undefined || (value === '' && !spec.repeated) || (spec.name === 'generation' && value === 0)) continue;
    if (spec.omitZero && (value === 0 || value === false)) continue;
    if (spec.inline) {
      Object.assign(out, value as Record<string, unknown>);
    } else if (spec.type.t === 'map') {
      const [k, val] = value as [string, unknown];
      const m = (out[spec.name] ??= {}) as Record<string, unknown>;
      m[k] = val;
    } else if (spec.repeated) {
      ((out[spec.name] ??= []) as unknown[]).push(value);
    } else {
      out[spec.name] = value;
    }
  }
  return out;
}

function decodeValue(v: WireValue, spec: FieldSpec): unknown {
  const t = spec.type;
  switch (t.t) {
    case 'string':
      return str(v);
    case 'bytes':
      if (v.wire !== 2) throw new HedgeError('BadRequest', 'malformed protobuf body: expected bytes');
      return v.value.toString('base64');
    case 'int64':
      return int(v, 64);
    case 'int32':
      return int(v, 32);
    case 'bool':
      return int(v, 64) !== 0;
    case 'time': {
      if (v.wire !== 2) throw new HedgeError('BadRequest', 'malformed protobuf body: expected a timestamp');
      const ts = decodeMessage(v.value, { 1: { name: 'seconds', type: { t: 'int64' } } });
      if (!ts.seconds) return undefined;
      return new Date(Number(ts.seconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    case 'intstr': {
      if (v.wire !== 2) throw new HedgeError('BadRequest', 'malformed protobuf body: expected an IntOrString');
      const is = decodeMessage(v.value, { 1: { name: 'type', type: { t: 'int64' } }, 2: { name: 'intVal', type: { t: 'int32' } }, 3: { name: 'strVal', type: { t: 'string' } } });
      return is.type === 1 ? (is.strVal ?? '') : (is.intVal ?? 0);
    }
    case 'message':
      if (v.wire !== 2) throw new HedgeError('BadRequest', 'malformed protobuf body: expected a message');
      return decodeMessage(v.value, schemas[t.schema]);
    case 'map': {
      if (v.wire !== 2) throw new HedgeError('BadRequest', 'malformed protobuf body: expected a map entry');
      // a resource.Quantity is a message holding its string form in field 1
      const value: FieldSpec = t.value === 'quantity' ? { name: 'v', type: { t: 'message', schema: 'Quantity' } } : { name: 'v', type: { t: t.value } };
      const e = decodeMessage(v.value, { 1: { name: 'k', type: { t: 'string' } }, 2: value });
      if (t.value === 'quantity') return [e.k ?? '', (e.v as { string?: string } | undefined)?.string ?? ''];
      return [e.k ?? '', e.v ?? ''];
    }
  }
}

export function isProtobufEnvelope(buf: Buffer): boolean {
  return buf.length >= 4 && buf.subarray(0, 4).equals(magic);
}

/**
 * Decode an `application/vnd.kubernetes.protobuf` body into the JSON form of the object.
 * Only the types in protobufKinds are understood; anything else is a 415 telling the client to
 * send JSON.
 */
export function decodeKubeProtobuf(buf: Buffer): KubeObject {
  if (!isProtobufEnvelope(buf)) throw new HedgeError('BadRequest', 'malformed protobuf body: missing the k8s envelope prefix');
  const unknown = decodeMessage(buf.subarray(4), schemas.Unknown) as {
    typeMeta?: { apiVersion?: string; kind?: string };
    raw?: string;
    contentEncoding?: string;
  };
  const apiVersion = unknown.typeMeta?.apiVersion ?? '';
  const kind = unknown.typeMeta?.kind ?? '';
  if (unknown.contentEncoding) throw new HedgeError('UnsupportedMediaType', `protobuf content encoding ${unknown.contentEncoding} is not supported`);
  const schemaName = protobufKinds[`${apiVersion}/${kind}`];
  if (!schemaName) {
    throw new HedgeError(
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - protobuf is accepted only for ${Object.keys(protobufKinds).join(', ')}; accepted media types include: application/json, application/yaml`,
    );
  }
  const obj = decodeMessage(Buffer.from(unknown.raw ?? '', 'base64'), schemas[schemaName]);
  return { apiVersion, kind, ...obj, metadata: (obj.metadata as KubeObject['metadata']) ?? {} };
}
