import { stringify as toYaml } from 'yaml';
import { ProtoWriter } from './protobuf/writer.ts';

/**
 * The OpenAPI v2 document in gnostic's `openapi.v2.Document` protobuf encoding
 * (github.com/google/gnostic openapiv2/OpenAPIv2.proto), which kubectl 1.27/1.28 request and
 * accept nothing else for. Vendor extensions and other free-form values are `Any{yaml}`, as
 * gnostic writes them and kube-openapi reads them.
 */
export const openapiV2ProtoMime = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
/** what kubectl 1.27/1.28 put in Accept; not a valid response Content-Type for Go's mime parser */
export const openapiV2ProtoMimeDeprecated = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const strs = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
const objects = (v: unknown): JsonObject[] => (Array.isArray(v) ? v.filter(isObject) : []);

function any(v: unknown): ProtoWriter {
  return new ProtoWriter().string(2, toYaml(v, { lineWidth: 0 }));
}

/** `x-` keys of `o` as repeated NamedAny at `field` */
function vendorExtensions(w: ProtoWriter, field: number, o: JsonObject): void {
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('x-')) w.message(field, new ProtoWriter().string(1, k).message(2, any(v)));
  }
}

function schema(s: JsonObject): ProtoWriter {
  const w = new ProtoWriter()
    .string(1, str(s.$ref))
    .string(2, str(s.format))
    .string(3, str(s.title))
    .string(4, str(s.description));
  if (s.default !== undefined) w.message(5, any(s.default));
  w.double(6, num(s.multipleOf))
    .double(7, num(s.maximum))
    .bool(8, bool(s.exclusiveMaximum))
    .double(9, num(s.minimum))
    .bool(10, bool(s.exclusiveMinimum))
    .uint(11, num(s.maxLength))
    .uint(12, num(s.minLength))
    .string(13, str(s.pattern))
    .uint(14, num(s.maxItems))
    .uint(15, num(s.minItems))
    .bool(16, bool(s.uniqueItems))
    .uint(17, num(s.maxProperties))
    .uint(18, num(s.minProperties))
    .strings(19, strs(s.required));
  if (Array.isArray(s.enum)) for (const e of s.enum) w.message(20, any(e));
  if (typeof s.additionalProperties === 'boolean') w.message(21, new ProtoWriter().bool(2, s.additionalProperties));
  else if (isObject(s.additionalProperties)) w.message(21, new ProtoWriter().message(1, schema(s.additionalProperties)));
  if (s.type !== undefined) w.message(22, new ProtoWriter().strings(1, typeof s.type === 'string' ? [s.type] : strs(s.type)));
  if (isObject(s.items)) w.message(23, new ProtoWriter().message(1, schema(s.items)));
  else if (Array.isArray(s.items)) w.message(23, objects(s.items).reduce((iw, i) => iw.message(1, schema(i)), new ProtoWriter()));
  for (const a of objects(s.allOf)) w.message(24, schema(a));
  if (isObject(s.properties)) w.message(25, namedSchemas(s.properties));
  w.string(26, str(s.discriminator)).bool(27, bool(s.readOnly));
  if (s.example !== undefined) w.message(30, any(s.example));
  vendorExtensions(w, 31, s);
  return w;
}

/** Properties / Definitions: repeated NamedSchema at field 1 */
function namedSchemas(m: JsonObject): ProtoWriter {
  const w = new ProtoWriter();
  for (const [name, s] of Object.entries(m)) if (isObject(s)) w.message(1, new ProtoWriter().string(1, name).message(2, schema(s)));
  return w;
}

/** Query/path/header/formData sub-schemas share a layout after their first fields. */
function nonBodyParameter(p: JsonObject): ProtoWriter {
  const where = str(p.in);
  // field numbers of type.. in each sub-schema: query and formData have allow_empty_value at 5
  const [oneof, typeField] = where === 'query' ? [3, 6] : where === 'formData' ? [2, 6] : where === 'header' ? [1, 5] : [4, 5];
  const w = new ProtoWriter().bool(1, bool(p.required)).string(2, where).string(3, str(p.description)).string(4, str(p.name));
  if (typeField === 6) w.bool(5, bool(p.allowEmptyValue));
  w.string(typeField, str(p.type)).string(typeField + 1, str(p.format));
  w.string(typeField + 3, str(p.collectionFormat));
  if (p.default !== undefined) w.message(typeField + 4, any(p.default));
  w.bool(typeField + 14, bool(p.uniqueItems));
  vendorExtensions(w, typeField + 17, p);
  return new ProtoWriter().message(oneof, w);
}

function parametersItem(p: JsonObject): ProtoWriter {
  if (typeof p.$ref === 'string') return new ProtoWriter().message(2, new ProtoWriter().string(1, p.$ref));
  if (p.in === 'body') {
    const body = new ProtoWriter().string(1, str(p.description)).string(2, str(p.name)).string(3, 'body').bool(4, bool(p.required));
    if (isObject(p.schema)) body.message(5, schema(p.schema));
    vendorExtensions(body, 6, p);
    return new ProtoWriter().message(1, new ProtoWriter().message(1, body));
  }
  return new ProtoWriter().message(1, new ProtoWriter().message(2, nonBodyParameter(p)));
}

function responses(r: JsonObject): ProtoWriter {
  const w = new ProtoWriter();
  for (const [code, v] of Object.entries(r)) {
    if (!isObject(v)) continue;
    let value: ProtoWriter;
    if (typeof v.$ref === 'string') value = new ProtoWriter().message(2, new ProtoWriter().string(1, v.$ref));
    else {
      const resp = new ProtoWriter().string(1, str(v.description));
      if (isObject(v.schema)) resp.message(2, new ProtoWriter().message(1, schema(v.schema)));
      vendorExtensions(resp, 5, v);
      value = new ProtoWriter().message(1, resp);
    }
    w.message(1, new ProtoWriter().string(1, code).message(2, value));
  }
  return w;
}

function operation(o: JsonObject): ProtoWriter {
  const w = new ProtoWriter().strings(1, strs(o.tags)).string(2, str(o.summary)).string(3, str(o.description)).string(5, str(o.operationId));
  w.strings(6, strs(o.produces)).strings(7, strs(o.consumes));
  for (const p of objects(o.parameters)) w.message(8, parametersItem(p));
  if (isObject(o.responses)) w.message(9, responses(o.responses));
  w.strings(10, strs(o.schemes)).bool(11, bool(o.deprecated));
  vendorExtensions(w, 13, o);
  return w;
}

const operationFields: [string, number][] = [['get', 2], ['put', 3], ['post', 4], ['delete', 5], ['options', 6], ['head', 7], ['patch', 8]];

function pathItem(item: JsonObject): ProtoWriter {
  const w = new ProtoWriter().string(1, str(item.$ref));
  for (const [verb, field] of operationFields) if (isObject(item[verb])) w.message(field, operation(item[verb]));
  for (const p of objects(item.parameters)) w.message(9, parametersItem(p));
  vendorExtensions(w, 10, item);
  return w;
}

function securityDefinition(d: JsonObject): ProtoWriter {
  if (d.type === 'basic') return new ProtoWriter().message(1, new ProtoWriter().string(1, 'basic').string(2, str(d.description)));
  // apiKey (the only other kind upstream publishes: BearerToken)
  return new ProtoWriter().message(2, new ProtoWriter().string(1, str(d.type)).string(2, str(d.name)).string(3, str(d.in)).string(4, str(d.description)));
}

/** Encode a Swagger 2.0 JSON document as gnostic's Document message. */
export function encodeOpenapiV2(doc: JsonObject): Buffer {
  const w = new ProtoWriter().string(1, str(doc.swagger));
  if (isObject(doc.info)) {
    const info = new ProtoWriter().string(1, str(doc.info.title)).string(2, str(doc.info.version)).string(3, str(doc.info.description));
    w.message(2, info);
  }
  w.string(3, str(doc.host)).string(4, str(doc.basePath)).strings(5, strs(doc.schemes)).strings(6, strs(doc.consumes)).strings(7, strs(doc.produces));
  if (isObject(doc.paths)) {
    const paths = new ProtoWriter();
    for (const [p, item] of Object.entries(doc.paths)) if (isObject(item)) paths.message(2, new ProtoWriter().string(1, p).message(2, pathItem(item)));
    w.message(8, paths);
  }
  if (isObject(doc.definitions)) w.message(9, namedSchemas(doc.definitions));
  for (const req of objects(doc.security)) {
    const r = new ProtoWriter();
    for (const [name, scopes] of Object.entries(req)) r.message(1, new ProtoWriter().string(1, name).message(2, new ProtoWriter().strings(1, strs(scopes))));
    w.message(12, r);
  }
  if (isObject(doc.securityDefinitions)) {
    const defs = new ProtoWriter();
    for (const [name, d] of Object.entries(doc.securityDefinitions)) if (isObject(d)) defs.message(1, new ProtoWriter().string(1, name).message(2, securityDefinition(d)));
    w.message(13, defs);
  }
  vendorExtensions(w, 16, doc);
  return w.finish();
}
