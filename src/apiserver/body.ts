import type { IncomingMessage } from 'node:http';
import { parseAllDocuments } from 'yaml';
import { HedgeError, badRequest } from '../lib/errors.ts';
import { readAll } from '../lib/http/request.ts';
import { auditRequestBody } from './audit/request-audit.ts';
import { mediaTypeOf } from './negotiate.ts';
import { decodeKubeProtobuf } from './protobuf/index.ts';
import { statusErrors } from './status.ts';

/** Read the whole request body, refusing more than `maxBytes` (413) before buffering it. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw statusErrors.tooLarge(maxBytes);
  }
  // plain listeners: an async iterator over the request costs a stream watcher and a promise per chunk
  const body = await readAll(req, true, { maxBytes, error: () => statusErrors.tooLarge(maxBytes) });
  auditRequestBody(req, body);
  return body;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(buf: Buffer): string {
  try {
    return utf8.decode(buf);
  } catch {
    throw badRequest('the request body is not valid UTF-8');
  }
}

export type BodyFormat = 'json' | 'yaml' | 'protobuf';

export const objectMediaTypes = ['application/json', 'application/yaml'];

/** Map a Content-Type to the decoder for object bodies (create/update); 415 otherwise. */
export function objectBodyFormat(contentType: string | undefined): BodyFormat {
  const mt = mediaTypeOf(contentType);
  // A missing Content-Type is treated as JSON, as most clients send JSON without thinking about it.
  if (mt === '' || mt === 'application/json') return 'json';
  if (mt === 'application/yaml' || mt === 'application/x-yaml' || mt === 'text/yaml') return 'yaml';
  if (mt === 'application/vnd.kubernetes.protobuf') return 'protobuf';
  throw statusErrors.unsupportedMediaType(mt, [...objectMediaTypes, 'application/vnd.kubernetes.protobuf']);
}

/** Decode a body of any accepted object format. */
export function decodeObjectBody(buf: Buffer, format: BodyFormat): unknown {
  if (format === 'protobuf') return decodeKubeProtobuf(buf);
  return parseDocument(decodeUtf8(buf), format);
}

/** Parse a JSON or YAML document; malformed input -> 400 with the parser's message. */
export function parseDocument(text: string, format: 'json' | 'yaml'): unknown {
  if (format === 'json') {
    let v: unknown;
    try {
      v = JSON.parse(text) as unknown;
    } catch (err) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
    }
    return checkDepth(v, text.length);
  }
  let docs;
  try {
    docs = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    throw badRequest(`error converting YAML to JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(docs)) throw badRequest('error converting YAML to JSON: unexpected document stream');
  const real = docs.filter((d) => d.contents !== null);
  if (real.length > 1) throw badRequest('error converting YAML to JSON: expected a single document');
  const doc = real[0] ?? docs[0];
  if (!doc) return null;
  if (doc.errors.length > 0) {
    throw badRequest(`error converting YAML to JSON: ${doc.errors[0].message}`);
  }
  try {
    return checkDepth(doc.toJS({ maxAliasCount: 100 }) as unknown, Infinity);
  } catch (err) {
    if (err instanceof HedgeError) throw err;
    throw new HedgeError('BadRequest', `error converting YAML to JSON: ${(err as Error).message}`);
  }
}

/** Deeper than any real object; beyond it recursive copies and encoders could overflow the stack. */
export const maxNestingDepth = 1000;

function checkDepth(value: unknown, textLength: number): unknown {
  // each level of JSON opens and closes a bracket: a shorter text cannot be nested past the limit
  if (textLength < 2 * (maxNestingDepth + 1)) return value;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > maxNestingDepth) throw badRequest(`the request body is nested more than ${maxNestingDepth} levels deep`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return value;
}
