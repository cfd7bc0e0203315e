import { createHash } from 'node:crypto';
import type { ResourceDef, Verb } from '../resources/types.ts';
import { DEFINITION_REF_PREFIX, loadDefinitions, refTarget, type Definitions, type SchemaObject } from './definitions.ts';

/**
 * OpenAPI documents shaped like kube-apiserver's: /openapi/v2 (swagger 2.0, all served
 * paths), /openapi/v3 (index of group-versions) and /openapi/v3/<gv-path> (OpenAPI 3.0 per
 * group-version). kubectl reads them for explain, for client-side apply patch metadata, and to
 * decide whether the server validates fields (a `fieldValidation` parameter on PATCH).
 */
type Doc = Record<string, unknown>;

interface Gvk {
  group: string;
  version: string;
  kind: string;
}

const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];
const PRODUCES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const WATCH_PRODUCES = [...PRODUCES, 'application/json;stream=watch', 'application/vnd.kubernetes.protobuf;stream=watch'];
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

interface Param {
  name: string;
  in: 'query' | 'path' | 'body';
  description: string;
  type?: 'string' | 'integer' | 'boolean';
  required?: boolean;
  schemaRef?: string;
}

const q = (name: string, type: Param['type'], description: string): Param => ({ name, in: 'query', type, description });

const P = {
  pretty: q('pretty', 'string', "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
  dryRun: q('dryRun', 'string', 'When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed'),
  fieldManager: q('fieldManager', 'string', 'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.'),
  fieldValidation: q('fieldValidation', 'string', 'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.'),
  force: q('force', 'boolean', 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.'),
  gracePeriodSeconds: q('gracePeriodSeconds', 'integer', 'The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.'),
  orphanDependents: q('orphanDependents', 'boolean', 'Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the "orphan" finalizer will be added to/removed from the object\'s finalizers list. Either this field or PropagationPolicy may be set, but not both.'),
  propagationPolicy: q('propagationPolicy', 'string', "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
  allowWatchBookmarks: q('allowWatchBookmarks', 'boolean', 'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server\'s discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.'),
  continue: q('continue', 'string', 'The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize.'),
  fieldSelector: q('fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  labelSelector: q('labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  limit: q('limit', 'integer', 'limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.'),
  resourceVersion: q('resourceVersion', 'string', 'resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset'),
  resourceVersionMatch: q('resourceVersionMatch', 'string', 'resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset'),
  sendInitialEvents: q('sendInitialEvents', 'boolean', '`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.'),
  timeoutSeconds: q('timeoutSeconds', 'integer', 'Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.'),
  watch: q('watch', 'boolean', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.'),
  name: (kind: string, sub?: string): Param => ({
    name: 'name',
    in: 'path',
    required: true,
    type: 'string',
    description: `name of the ${sub ? `${kind} (${sub})` : kind}`,
  }),
  namespace: { name: 'namespace', in: 'path', required: true, type: 'string', description: 'object name and auth scope, such as for teams and projects' } satisfies Param,
  body: (ref: string): Param => ({ name: 'body', in: 'body', required: true, description: '', schemaRef: ref }),
};

const LIST_PARAMS = [
  P.allowWatchBookmarks,
  P.continue,
  P.fieldSelector,
  P.labelSelector,
  P.limit,
  P.resourceVersion,
  P.resourceVersionMatch,
  P.sendInitialEvents,
  P.timeoutSeconds,
  P.watch,
];
const WRITE_PARAMS = [P.dryRun, P.fieldManager, P.fieldValidation];
const DELETE_PARAMS = [P.dryRun, P.gracePeriodSeconds, P.orphanDependents, P.propagationPolicy];

type Action = 'get' | 'list' | 'post' | 'put' | 'patch' | 'delete' | 'deletecollection' | 'watch' | 'watchlist';
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** One operation in a neutral shape; rendered to v2 or v3 below. */
interface Op {
  method: Method;
  action: Action;
  operationId: string;
  description: string;
  gvk: Gvk;
  params: Param[];
  /** definition name of the request body */
  body?: string;
  consumes?: string[];
  /** definition name of the 200 response; undefined = string */
  response: string;
  extraResponses?: Record<string, string>;
  produces: string[];
}

interface PathItem {
  path: string;
  /** groupVersionPath the path belongs to: "api/v1" or "apis/apps/v1" */
  gvPath: string;
  params: Param[];
  ops: Op[];
}

/** 'rbac.authorization.k8s.io' → 'RbacAuthorization', '' → 'Core' (upstream operationId style) */
function groupWord(group: string): string {
  if (!group) return 'Core';
  return group
    .replace(/\.k8s\.io$/, '')
    .split(/[.-]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export function groupVersionPath(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `apis/${def.group}/${def.version}` : `api/${def.version}`;
}

function defName(defs: Definitions, group: string, version: string, kind: string): string | undefined {
  for (const [name, schema] of Object.entries(defs)) {
    for (const gvk of schema['x-kubernetes-group-version-kind'] ?? []) {
      if (gvk.group === group && gvk.version === version && gvk.kind === kind) return name;
    }
  }
  return undefined;
}

/** Definitions for the extra kinds some subresources take or return. */
const SUBRESOURCE_KINDS: Record<string, { gvk: Gvk; def: string }> = {
  scale: { gvk: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, def: 'io.k8s.api.autoscaling.v1.Scale' },
  binding: { gvk: { group: '', version: 'v1', kind: 'Binding' }, def: 'io.k8s.api.core.v1.Binding' },
  eviction: { gvk: { group: 'policy', version: 'v1', kind: 'Eviction' }, def: 'io.k8s.api.policy.v1.Eviction' },
};

function pathItems(rd: ResourceDef, defs: Definitions): PathItem[] {
  const objDef = defName(defs, rd.group, rd.version, rd.kind);
  const listDef = defName(defs, rd.group, rd.version, rd.listKind);
  if (!objDef) return [];
  const gvPath = groupVersionPath(rd);
  const base = `/${gvPath}`;
  const gvk: Gvk = { group: rd.group, version: rd.version, kind: rd.kind };
  const has = (v: Verb): boolean => rd.verbs.includes(v);
  const scope = rd.namespaced ? 'Namespaced' : '';
  const id = (verb: string, suffix = ''): string => `${verb}${groupWord(rd.group)}${cap(rd.version)}${scope}${rd.kind}${suffix}`;
  const nsPrefix = rd.namespaced ? '/namespaces/{namespace}' : '';
  const scopeParams = rd.namespaced ? [P.namespace] : [];
  const status = `${META}.Status`;
  const items: PathItem[] = [];
  // custom resources take no strategic merge patch; kubectl reads this to pick its patch type
  const patchTypes = rd.custom ? PATCH_TYPES.filter((t) => !t.includes('strategic')) : PATCH_TYPES;

  const collection: Op[] = [];
  if (has('list') && listDef) {
    collection.push({
      method: 'get', action: 'list', operationId: id('list'), gvk, params: LIST_PARAMS, response: listDef,
      description: `list or watch objects of kind ${rd.kind}`, produces: WATCH_PRODUCES,
    });
  }
  if (has('create')) {
    collection.push({
      method: 'post', action: 'post', operationId: id('create'), gvk, params: WRITE_PARAMS, body: objDef, response: objDef,
      extraResponses: { '201': objDef, '202': objDef }, description: `create ${article(rd.kind)}`, produces: PRODUCES,
    });
  }
  if (has('deletecollection')) {
    collection.push({
      method: 'delete', action: 'deletecollection', operationId: id('deletecollection', ''), gvk,
      params: [...DELETE_PARAMS, ...LIST_PARAMS.filter((p) => p.name !== 'watch' && p.name !== 'allowWatchBookmarks')],
      body: `${META}.DeleteOptions`, response: status, description: `delete collection of ${rd.kind}`, produces: PRODUCES,
    });
  }
  if (collection.length > 0) items.push({ path: `${base}${nsPrefix}/${rd.plural}`, gvPath, params: [...scopeParams, P.pretty], ops: collection });

  const named: Op[] = [];
  const nameParam = P.name(rd.kind);
  if (has('get')) {
    named.push({ method: 'get', action: 'get', operationId: id('read'), gvk, params: [], response: objDef, description: `read the specified ${rd.kind}`, produces: PRODUCES });
  }
  if (has('update')) {
    named.push({
      method: 'put', action: 'put', operationId: id('replace'), gvk, params: WRITE_PARAMS, body: objDef, response: objDef,
      extraResponses: { '201': objDef }, description: `replace the specified ${rd.kind}`, produces: PRODUCES,
    });
  }
  if (has('delete')) {
    named.push({
      method: 'delete', action: 'delete', operationId: id('delete'), gvk, params: DELETE_PARAMS, body: `${META}.DeleteOptions`,
      response: status, extraResponses: { '202': status }, description: `delete ${article(rd.kind)}`, produces: PRODUCES,
    });
  }
  if (has('patch')) {
    named.push({
      method: 'patch', action: 'patch', operationId: id('patch'), gvk, params: [...WRITE_PARAMS, P.force], body: `${META}.Patch`,
      consumes: patchTypes, response: objDef, extraResponses: { '201': objDef }, description: `partially update the specified ${rd.kind}`, produces: PRODUCES,
    });
  }
  if (named.length > 0) items.push({ path: `${base}${nsPrefix}/${rd.plural}/{name}`, gvPath, params: [nameParam, ...scopeParams, P.pretty], ops: named });

  for (const sub of rd.subresources) {
    const extra = SUBRESOURCE_KINDS[sub];
    const subDef = sub === 'status' ? objDef : extra?.def;
    const subGvk = sub === 'status' ? gvk : extra?.gvk;
    if (!subDef || !subGvk || !defs[subDef]) continue;
    const suffix = cap(sub);
    const ops: Op[] = [];
    if (sub === 'binding' || sub === 'eviction') {
      ops.push({
        method: 'post', action: 'post', operationId: id('create', suffix), gvk: subGvk, params: WRITE_PARAMS, body: subDef, response: subDef,
        extraResponses: { '201': subDef, '202': subDef }, description: `create ${sub} of ${article(rd.kind)}`, produces: PRODUCES,
      });
    } else {
      ops.push(
        { method: 'get', action: 'get', operationId: id('read', suffix), gvk: subGvk, params: [], response: subDef, description: `read ${sub} of the specified ${rd.kind}`, produces: PRODUCES },
        {
          method: 'put', action: 'put', operationId: id('replace', suffix), gvk: subGvk, params: WRITE_PARAMS, body: subDef, response: subDef,
          extraResponses: { '201': subDef }, description: `replace ${sub} of the specified ${rd.kind}`, produces: PRODUCES,
        },
        {
          method: 'patch', action: 'patch', operationId: id('patch', suffix), gvk: subGvk, params: [...WRITE_PARAMS, P.force], body: `${META}.Patch`,
          consumes: patchTypes, response: subDef, extraResponses: { '201': subDef }, description: `partially update ${sub} of the specified ${rd.kind}`, produces: PRODUCES,
        },
      );
    }
    items.push({ path: `${base}${nsPrefix}/${rd.plural}/{name}/${sub}`, gvPath, params: [P.name(rd.kind, sub), ...scopeParams, P.pretty], ops });
  }

  if (has('watch')) {
    const watchEvent = `${META}.WatchEvent`;
    const watchOp = (action: Action, operationId: string, description: string): Op => ({
      method: 'get', action, operationId, gvk, params: [], response: watchEvent, description, produces: WATCH_PRODUCES,
    });
    items.push({
      path: `${base}/watch${nsPrefix}/${rd.plural}`, gvPath, params: [...LIST_PARAMS, ...scopeParams, P.pretty],
      ops: [watchOp('watchlist', id('watch', 'List'), `watch individual changes to a list of ${rd.kind}. deprecated: use the 'watch' parameter with a list operation instead.`)],
    });
    items.push({
      path: `${base}/watch${nsPrefix}/${rd.plural}/{name}`, gvPath, params: [...LIST_PARAMS, nameParam, ...scopeParams, P.pretty],
      ops: [watchOp('watch', id('watch'), `watch changes to an object of kind ${rd.kind}. deprecated: use the 'watch' parameter with a list operation, filtered to a single item with the 'fieldSelector' parameter.`)],
    });
  }
  if (rd.namespaced && has('list') && listDef) {
    const allId = `list${groupWord(rd.group)}${cap(rd.version)}${rd.kind}ForAllNamespaces`;
    items.push({
      path: `${base}/${rd.plural}`, gvPath, params: [...LIST_PARAMS, P.pretty],
      ops: [{ method: 'get', action: 'list', operationId: allId, gvk, params: [], response: listDef, description: `list or watch objects of kind ${rd.kind}`, produces: WATCH_PRODUCES }],
    });
    if (has('watch')) {
      items.push({
        path: `${base}/watch/${rd.plural}`, gvPath, params: [...LIST_PARAMS, P.pretty],
        ops: [{
          method: 'get', action: 'watchlist', operationId: `watch${groupWord(rd.group)}${cap(rd.version)}${rd.kind}ListForAllNamespaces`, gvk, params: [],
          response: `${META}.WatchEvent`, description: `watch individual changes to a list of ${rd.kind}. deprecated: use the 'watch' parameter with a list operation instead.`, produces: WATCH_PRODUCES,
        }],
      });
    }
  }
  return items;
}

function article(kind: string): string {
  return /^[AEIOU]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}

function tagOf(gvPath: string): string {
  // upstream tags operations by group+version, e.g. "core_v1", "apps_v1", "rbacAuthorization_v1"
  const [, group, version] = gvPath.startsWith('api/') ? ['', 'core', gvPath.slice(4)] : gvPath.split('/');
  const word = groupWord(group === 'core' ? '' : group);
  return `${word.charAt(0).toLowerCase()}${word.slice(1)}_${version}`;
}

// ---------------------------------------------------------------------------- v2

function v2Param(p: Param): Doc {
  const out: Doc = { description: p.description, in: p.in, name: p.name };
  if (p.required) out.required = true;
  if (p.schemaRef) out.schema = { $ref: `${DEFINITION_REF_PREFIX}${p.schemaRef}` };
  else {
    out.type = p.type;
    out.uniqueItems = true;
  }
  return out;
}

function v2Operation(op: Op, gvPath: string): Doc {
  const params = op.params.map(v2Param);
  if (op.body) params.unshift(v2Param(P.body(op.body)));
  const responses: Doc = { '200': { description: 'OK', schema: { $ref: `${DEFINITION_REF_PREFIX}${op.response}` } } };
  for (const [code, def] of Object.entries(op.extraResponses ?? {})) {
    responses[code] = { description: code === '201' ? 'Created' : 'Accepted', schema: { $ref: `${DEFINITION_REF_PREFIX}${def}` } };
  }
  responses['401'] = { description: 'Unauthorized' };
  const out: Doc = {
    consumes: op.consumes ?? ['*/*'],
    description: op.description,
    operationId: op.operationId,
    produces: op.produces,
    responses,
    schemes: ['https'],
    tags: [tagOf(gvPath)],
    'x-kubernetes-action': op.action,
    'x-kubernetes-group-version-kind': op.gvk,
  };
  if (params.length > 0) out.parameters = params;
  return out;
}

function buildV2(resources: ResourceDef[], defs: Definitions): Doc {
  const paths: Doc = {};
  for (const rd of resources) {
    for (const item of pathItems(rd, defs)) {
      const entry: Doc = { parameters: item.params.map(v2Param) };
      for (const op of item.ops) entry[op.method] = v2Operation(op, item.gvPath);
      paths[item.path] = entry;
    }
  }
  return {
    definitions: defs,
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths: sortObject(paths),
    security: [{ BearerToken: [] }],
    securityDefinitions: {
      BearerToken: { description: 'Bearer Token authentication', in: 'header', name: 'authorization', type: 'apiKey' },
    },
    swagger: '2.0',
  };
}

// ---------------------------------------------------------------------------- v3

const V3_REF_PREFIX = '#/components/schemas/';

/** v2 schema → v3: refs move to components, and a $ref with siblings is wrapped in allOf as upstream does. */
function toV3Schema(schema: SchemaObject, seen: Set<string>): Doc {
  const out: Doc = {};
  for (const [key, value] of Object.entries(schema)) {
    switch (key) {
      case '$ref':
        seen.add(refTarget(value as string));
        break;
      case 'properties': {
        const props: Doc = {};
        for (const [name, prop] of Object.entries(value as Record<string, SchemaObject>)) props[name] = toV3Schema(prop, seen);
        out.properties = props;
        break;
      }
      case 'items':
        out.items = toV3Schema(value as SchemaObject, seen);
        break;
      case 'additionalProperties':
        out.additionalProperties = typeof value === 'boolean' ? value : toV3Schema(value as SchemaObject, seen);
        break;
      default:
        out[key] = value;
    }
  }
  if (schema.$ref) {
    const ref = `${V3_REF_PREFIX}${refTarget(schema.$ref)}`;
    if (Object.keys(out).length === 0) return { $ref: ref };
    return { allOf: [{ $ref: ref }], ...out };
  }
  return out;
}

function v3Param(p: Param): Doc {
  const out: Doc = { description: p.description, in: p.in, name: p.name, schema: { type: p.type, uniqueItems: true } };
  if (p.required) out.required = true;
  return out;
}

function v3Content(types: string[], def: string): Doc {
  const content: Doc = {};
  const schema = { $ref: `${V3_REF_PREFIX}${def}` };
  for (const t of types) content[t] = { schema };
  return content;
}

function v3Operation(op: Op, gvPath: string, seen: Set<string>): Doc {
  seen.add(op.response);
  const responses: Doc = { '200': { content: v3Content(op.produces, op.response), description: 'OK' } };
  for (const [code, def] of Object.entries(op.extraResponses ?? {})) {
    seen.add(def);
    responses[code] = { content: v3Content(op.produces, def), description: code === '201' ? 'Created' : 'Accepted' };
  }
  responses['401'] = { description: 'Unauthorized' };
  const out: Doc = {
    description: op.description,
    operationId: op.operationId,
    responses,
    tags: [tagOf(gvPath)],
    'x-kubernetes-action': op.action,
    'x-kubernetes-group-version-kind': op.gvk,
  };
  // kubectl looks for fieldValidation among the *operation's* parameters, not the path's
  if (op.params.length > 0) out.parameters = op.params.map(v3Param);
  if (op.body) {
    seen.add(op.body);
    out.requestBody = { content: v3Content(op.consumes ?? ['*/*'], op.body), required: op.method !== 'delete' };
  }
  return out;
}

function buildV3(resources: ResourceDef[], defs: Definitions, gvPath: string): Doc | undefined {
  const mine = resources.filter((r) => groupVersionPath(r) === gvPath);
  if (mine.length === 0) return undefined;
  const seen = new Set<string>();
  const paths: Doc = {};
  for (const rd of mine) {
    for (const item of pathItems(rd, defs)) {
      const entry: Doc = { parameters: item.params.map(v3Param) };
      for (const op of item.ops) entry[op.method] = v3Operation(op, item.gvPath, seen);
      paths[item.path] = entry;
    }
  }
  // transitive closure of referenced definitions
  const schemas: Doc = {};
  const queue = [...seen];
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (schemas[name] !== undefined || !defs[name]) continue;
    const refs = new Set<string>();
    schemas[name] = toV3Schema(defs[name], refs);
    for (const r of refs) if (schemas[r] === undefined) queue.push(r);
  }
  return {
    components: {
      schemas: sortObject(schemas),
      securitySchemes: { BearerToken: { description: 'Bearer Token authentication', in: 'header', name: 'authorization', type: 'apiKey' } },
    },
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    openapi: '3.0.0',
    paths: sortObject(paths),
    security: [{ BearerToken: [] }],
  };
}

function sortObject(o: Doc): Doc {
  const out: Doc = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

// ---------------------------------------------------------------------------- caching

/** A document ready to serve: serialized once, with its content hash. */
export interface ServedDocument {
  readonly doc: object;
  readonly json: string;
  /** sha512 of json, upper-case hex (upstream's ?hash= and ETag value) */
  readonly hash: string;
  /** quoted ETag header value */
  readonly etag: string;
}

interface Cache {
  v2?: ServedDocument;
  v3Index?: ServedDocument;
  v3: Map<string, ServedDocument | undefined>;
}

const caches = new WeakMap<ResourceDef[], Cache>();

function cacheFor(resources: ResourceDef[]): Cache {
  let c = caches.get(resources);
  if (!c) {
    c = { v3: new Map() };
    caches.set(resources, c);
  }
  return c;
}

function served(doc: object): ServedDocument {
  const json = JSON.stringify(doc);
  const hash = createHash('sha512').update(json).digest('hex').toUpperCase();
  return { doc, json, hash, etag: `"${hash}"` };
}

/**
 * The documents are cached per `resources` array (by identity): pass the same array for the
 * life of the process and each document is built and serialized once.
 */
export function servedOpenapiV2(resources: ResourceDef[], defs: Definitions = loadDefinitions()): ServedDocument {
  const c = cacheFor(resources);
  c.v2 ??= served(buildV2(resources, defs));
  return c.v2;
}

export function servedOpenapiV3(resources: ResourceDef[], gvPath: string, defs: Definitions = loadDefinitions()): ServedDocument | undefined {
  const c = cacheFor(resources);
  if (!c.v3.has(gvPath)) {
    const doc = buildV3(resources, defs, gvPath);
    c.v3.set(gvPath, doc && served(doc));
  }
  return c.v3.get(gvPath);
}

export function servedOpenapiV3Index(resources: ResourceDef[], defs: Definitions = loadDefinitions()): ServedDocument {
  const c = cacheFor(resources);
  if (!c.v3Index) {
    const paths: Record<string, { serverRelativeURL: string }> = {};
    const gvPaths = [...new Set(resources.map(groupVersionPath))].sort();
    for (const gvPath of gvPaths) {
      const doc = servedOpenapiV3(resources, gvPath, defs);
      if (doc) paths[gvPath] = { serverRelativeURL: `/openapi/v3/${gvPath}?hash=${doc.hash}` };
    }
    c.v3Index = served({ paths });
  }
  return c.v3Index;
}

export function openapiV2(resources: ResourceDef[]): object {
  return servedOpenapiV2(resources).doc;
}

export function openapiV3Index(resources: ResourceDef[]): { paths: Record<string, { serverRelativeURL: string }> } {
  return servedOpenapiV3Index(resources).doc as { paths: Record<string, { serverRelativeURL: string }> };
}

/** groupVersionPath like "api/v1" or "apis/apps/v1"; undefined when nothing is served there. */
export function openapiV3Document(resources: ResourceDef[], gvPath: string): object | undefined {
  return servedOpenapiV3(resources, gvPath)?.doc;
}
