import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadDefinitions, servedOpenapiV2, servedOpenapiV3, servedOpenapiV3Index, type Definitions, type ServedDocument } from '../api/openapi/index.ts';
import type { ResourceDef } from '../api/resources/types.ts';
import type { ResourceRegistry } from '../api/resources/index.ts';
import { HedgeError } from '../lib/errors.ts';
import { aggregatedDiscovery, apiGroupDoc, apiGroupList, apiResourceList, apiVersions } from './discovery.ts';
import { sendJson, sendText } from './handlers/respond.ts';
import { contentTypeOf, negotiateOutput, parseAccept } from './negotiate.ts';
import { encodeOpenapiV2, openapiV2ProtoMime, openapiV2ProtoMimeDeprecated } from './openapi-v2-proto.ts';
import { statusErrors } from './status.ts';

export const serverVersion = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-hedge',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export interface NonResourceRequest {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  resources: ResourceRegistry;
  serverAddress: string;
  /** named checks of /healthz, /livez, /readyz besides `ping` */
  healthChecks?: readonly HealthCheck[];
  /** /metrics (Prometheus text); 404 when absent */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export type HealthEndpoint = 'healthz' | 'livez' | 'readyz';

/** One named check of /healthz, /livez and /readyz (upstream's healthz.HealthChecker): an error message, or undefined when healthy. */
export interface HealthCheck {
  name: string;
  /** the endpoints it is installed on; all three when absent (upstream keeps kms-providers off /livez) */
  endpoints?: readonly HealthEndpoint[];
  check(): Promise<string | undefined>;
}

/** upstream's formatQuoted: `"a","b"` */
const quoted = (names: readonly string[]): string => names.map((n) => JSON.stringify(n)).join(',');

/**
 * upstream's healthz handlers: `/<endpoint>` runs every check installed there (`ping` always
 * passes) except those named by `?exclude=` (`[+]name excluded: ok`; unknown names get a `warn:`
 * line) and answers `ok`, or 500 listing `[+]name ok` / `[-]name failed: reason withheld` then
 * `<endpoint> check failed` (with `?verbose` the list also when healthy); `/<endpoint>/<name>` runs
 * one check: `ok` or 500 `internal server error: <error>`; a name not installed there is a 404.
 */
async function serveHealth(r: NonResourceRequest, p: string): Promise<void> {
  const [, endpoint, name] = /^\/(healthz|livez|readyz)(?:\/(.*))?$/.exec(p) as unknown as [string, HealthEndpoint, string | undefined];
  const ping: HealthCheck = { name: 'ping', check: async () => undefined };
  const checks = [ping, ...(r.healthChecks ?? []).filter((c) => !c.endpoints || c.endpoints.includes(endpoint))];
  const text = 'text/plain; charset=utf-8';
  r.res.setHeader('X-Content-Type-Options', 'nosniff');
  if (name !== undefined) {
    const c = checks.find((x) => x.name === name);
    if (!c) {
      sendText(r.res, 404, '404 page not found\n', text);
      return;
    }
    const err = await c.check();
    if (err !== undefined) sendText(r.res, 500, `internal server error: ${err}\n`, text);
    else sendText(r.res, 200, 'ok', text);
    return;
  }
  const excluded = new Set(r.query.getAll('exclude'));
  const lines: string[] = [];
  let failed = false;
  // `excluded` is settled before the first await, so what is left names no check
  const results = await Promise.all(checks.map(async (c) => (excluded.delete(c.name) ? { excluded: true } : { excluded: false, err: await c.check() })));
  checks.forEach((c, i) => {
    const res = results[i];
    if (res.excluded) lines.push(`[+]${c.name} excluded: ok`);
    else if (res.err === undefined) lines.push(`[+]${c.name} ok`);
    else {
      failed = true;
      lines.push(`[-]${c.name} failed: reason withheld`);
    }
  });
  if (excluded.size > 0) lines.push(`warn: some health checks cannot be excluded: no matches for ${quoted([...excluded].sort())}`);
  if (!failed && !r.query.has('verbose')) {
    sendText(r.res, 200, 'ok', text);
    return;
  }
  lines.push(failed ? `${endpoint} check failed` : `${endpoint} check passed`);
  sendText(r.res, failed ? 500 : 200, `${lines.join('\n')}\n`, text);
}

/** Health, version, discovery and OpenAPI. */
export async function serveNonResource(r: NonResourceRequest): Promise<void> {
  const { req, res, path, resources } = r;
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') throw statusErrors.methodNotAllowed(method, path);
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  if (p === '/healthz' || p === '/livez' || p === '/readyz' || /^\/(healthz|livez|readyz)\//.test(p)) {
    await serveHealth(r, p);
    return;
  }
  if (p === '/version') {
    sendJson(res, 200, serverVersion);
    return;
  }
  const accept = req.headers.accept;
  if (p === '/') {
    const paths = ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/openapi/v2', '/openapi/v3', '/readyz', '/version'];
    for (const g of resources.groups()) {
      if (g.group === '') continue;
      paths.push(`/apis/${g.group}`, ...g.versions.map((v) => `/apis/${g.group}/${v}`));
    }
    sendJson(res, 200, { paths: paths.sort() });
    return;
  }
  if (p === '/api' || p === '/apis') {
    const fmt = negotiateOutput(accept, 'discovery');
    res.setHeader('Vary', 'Accept');
    if (fmt.kind === 'discovery') {
      sendJson(res, 200, aggregatedDiscovery(resources, p === '/api' ? 'api' : 'apis', fmt.version), contentTypeOf(fmt));
      return;
    }
    sendJson(res, 200, p === '/api' ? apiVersions(r.serverAddress) : apiGroupList(resources));
    return;
  }
  const parts = p.split('/').filter((s) => s !== '');
  if (parts[0] === 'api' && parts.length === 2) {
    negotiateOutput(accept, 'other');
    const doc = apiResourceList(resources, '', parts[1]);
    if (!doc) throw statusErrors.notFoundPath();
    sendJson(res, 200, doc);
    return;
  }
  if (parts[0] === 'apis' && (parts.length === 2 || parts.length === 3)) {
    negotiateOutput(accept, 'other');
    const doc = parts.length === 2 ? apiGroupDoc(resources, parts[1]) : apiResourceList(resources, parts[1], parts[2]);
    if (!doc) throw statusErrors.notFoundPath();
    sendJson(res, 200, doc);
    return;
  }
  if (p === '/openapi/v2' || p === '/swagger-2.0.0.pb-v1') {
    // kubectl 1.27/1.28 accept only protobuf here; later ones use v3, and ask for v2 JSON as a fallback
    const doc = servedOpenapiV2(...openapiInputs(resources));
    if (p === '/swagger-2.0.0.pb-v1' || prefersProtobuf(accept)) {
      serveDocument(r, doc, protobufOf(doc), openapiV2ProtoMime);
      return;
    }
    negotiateOutput(accept, 'other');
    serveDocument(r, doc);
    return;
  }
  if (p === '/metrics' && r.metrics) {
    const m = await r.metrics();
    sendText(res, 200, m.body, m.contentType);
    return;
  }
  if (p === '/openapi/v3') {
    negotiateOutput(accept, 'other');
    serveDocument(r, servedOpenapiV3Index(...openapiInputs(resources)));
    return;
  }
  if (p.startsWith('/openapi/v3/')) {
    negotiateOutput(accept, 'other');
    const doc = servedOpenapiV3(openapiInputs(resources)[0], p.slice('/openapi/v3/'.length), openapiInputs(resources)[1]);
    if (!doc) throw new HedgeError('NotFound', 'the server could not find the requested resource');
    serveDocument(r, doc);
    return;
  }
  throw statusErrors.notFoundPath();
}

/**
 * The openapi module caches documents per array identity: `resources.all()` is one array per
 * registry revision, so a CRD added or removed gives fresh documents. Types that bring their own
 * definitions (CRDs, custom resources) are merged over the generated upstream ones.
 */
const mergedDefinitions = new WeakMap<ResourceDef[], Definitions>();
function openapiInputs(resources: ResourceRegistry): [ResourceDef[], Definitions] {
  const defs = resources.all();
  let d = mergedDefinitions.get(defs);
  if (!d) {
    const extra = defs.filter((x) => x.openapiDefinitions);
    d = extra.length === 0 ? loadDefinitions() : Object.assign({}, loadDefinitions(), ...extra.map((x) => x.openapiDefinitions)) as Definitions;
    mergedDefinitions.set(defs, d);
  }
  return [defs, d];
}

/** the first acceptable media range is gnostic protobuf (`@` or `.` before the version, as clients vary) */
function prefersProtobuf(accept: string | undefined): boolean {
  const first = parseAccept(accept).find((m) => m.q > 0);
  if (!first) return false;
  const mime = `${first.type}/${first.subtype}`.toLowerCase();
  return mime === openapiV2ProtoMime || mime === openapiV2ProtoMimeDeprecated;
}

interface EncodedDocument {
  body: Buffer;
  etag: string;
}

/** encoded on first request, once per document */
const protobufs = new WeakMap<ServedDocument, EncodedDocument>();
function protobufOf(doc: ServedDocument): EncodedDocument {
  let e = protobufs.get(doc);
  if (!e) {
    const body = encodeOpenapiV2(doc.doc as Record<string, unknown>);
    // its own ETag, as kube-openapi computes one per representation
    e = { body, etag: `"${createHash('sha512').update(body).digest('hex').toUpperCase()}"` };
    protobufs.set(doc, e);
  }
  return e;
}

function serveDocument(r: NonResourceRequest, doc: ServedDocument, encoded?: EncodedDocument, contentType = 'application/json'): void {
  const { req, res } = r;
  const etag = encoded?.etag ?? doc.etag;
  res.setHeader('ETag', etag);
  res.setHeader('Vary', 'Accept');
  if (req.headers['if-none-match'] === etag) {
    res.statusCode = 304;
    res.end();
    return;
  }
  if (encoded) {
    res.statusCode = 200;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', encoded.body.length);
    res.end(encoded.body);
    return;
  }
  sendText(res, 200, doc.json, contentType);
}
