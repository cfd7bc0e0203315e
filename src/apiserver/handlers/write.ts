import { isPlainObject, type Json, type KubeObject } from '../../api/object.ts';
import { HedgeError, badRequest, isHedgeError } from '../../lib/errors.ts';
import { decodeObjectBody, decodeUtf8, objectBodyFormat, parseDocument, readBody } from '../body.ts';
import { mediaTypeOf, negotiateOutput } from '../negotiate.ts';
import { isCore, returnsDeletedObject } from '../registry/behaviour.ts';
import { admissionRequest, type DeleteOptions, type OperationContext } from '../registry/registry.ts';
import { isTrue } from '../request-info.ts';
import { statusErrors, successStatus } from '../status.ts';
import { parseFieldValidation } from './field-validation.ts';
import { patchMediaTypes, type PatchType } from './patch-engine.ts';
import { handleBinding } from './binding.ts';
import { evictPod } from './eviction.ts';
import { compileMatcher, namespaceOf } from './read.ts';
import { sendList, sendObject } from './respond.ts';
import type { RequestScope } from './scope.ts';

function apiVersionOfDef(rq: RequestScope): string {
  return rq.def.group ? `${rq.def.group}/${rq.def.version}` : rq.def.version;
}

export function parseDryRun(rq: RequestScope): boolean {
  const values = rq.query.getAll('dryRun');
  for (const v of values) {
    if (v !== 'All') throw new HedgeError('BadRequest', `Invalid dryRun value: ${JSON.stringify(v)}: supported values: "All"`);
  }
  return values.length > 0;
}

function fieldManagerOf(rq: RequestScope): string {
  const fm = rq.query.get('fieldManager');
  if (fm) {
    if (fm.length > 128) throw new HedgeError('BadRequest', `fieldManager: Too long: must have at most 128 bytes`);
    return fm;
  }
  // Upstream names the manager after the user agent's program name when the client gives none.
  const ua = rq.req.headers['user-agent'] ?? 'unknown';
  return ua.split('/')[0].slice(0, 128) || 'unknown';
}

export function opContext(rq: RequestScope, dryRun: boolean, fieldManager: string | undefined): OperationContext {
  return new RequestOperation(rq, dryRun, fieldManager);
}

/** a request's write: its signal is read from the request on use (made then: most writes never listen) */
class RequestOperation implements OperationContext {
  readonly user: OperationContext['user'];
  readonly warnings: string[];
  readonly auditAnnotations: Record<string, string> | undefined;
  readonly #rq: RequestScope;

  constructor(rq: RequestScope, readonly dryRun: boolean, readonly fieldManager: string | undefined) {
    this.#rq = rq;
    this.user = rq.user;
    this.warnings = rq.warnings;
    this.auditAnnotations = rq.audit?.annotations;
  }

  get signal(): AbortSignal {
    return this.#rq.signal;
  }
}

export async function readObjectBody(rq: RequestScope): Promise<unknown> {
  const format = objectBodyFormat(rq.req.headers['content-type']);
  const buf = await readBody(rq.req, rq.server.maxBodyBytes);
  if (buf.length === 0) throw badRequest('the request body is empty; expected an object');
  const obj = decodeObjectBody(buf, format);
  rq.audit?.requestObject(obj);
  return obj;
}

/**
 * Turn a decoded body into the object for this URL: type meta defaulted/checked against the
 * URL, schema check per fieldValidation, namespace reconciled with the URL.
 */
function objectFromBody(rq: RequestScope, body: unknown, kind = rq.def.kind, apiVersion = apiVersionOfDef(rq), warn = true): KubeObject {
  if (!isPlainObject(body)) throw badRequest(`Object 'Kind' is missing in '${truncate(JSON.stringify(body))}'`);
  const obj = body as KubeObject;
  if (obj.apiVersion === undefined || obj.apiVersion === '') obj.apiVersion = apiVersion;
  if (obj.kind === undefined || obj.kind === '') obj.kind = kind;
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') throw badRequest('apiVersion and kind must be strings');
  if (obj.apiVersion !== apiVersion) {
    throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersion})`);
  }
  if (obj.kind !== kind) throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${kind})`);
  if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
  if (!isPlainObject(obj.metadata)) throw badRequest(`${kind} in version "${rq.def.version}" cannot be handled as a ${kind}: metadata must be an object`);
  if (kind === rq.def.kind && warn) {
    const mode = parseFieldValidation(rq.query.get('fieldValidation'));
    rq.warnings.push(...rq.server.fields.check(rq.def, obj, mode));
  }
  const urlNs = namespaceOf(rq);
  if (rq.def.namespaced) {
    const bodyNs = obj.metadata.namespace;
    if (bodyNs === undefined || bodyNs === '') obj.metadata.namespace = urlNs;
    else if (bodyNs !== urlNs) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
  }
  return obj;
}

function truncate(s: string | undefined): string {
  const t = s ?? '';
  return t.length > 200 ? `${t.slice(0, 200)}...` : t;
}

export async function handleCreate(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'object');
  const sub = rq.info.subresource;
  if (rq.info.name !== '' || sub !== '') {
    if (isCore(rq.def, 'pods') && sub === 'binding') return handleBinding(rq, objectFromBody(rq, await readObjectBody(rq), 'Binding', 'v1'));
    if (isCore(rq.def, 'pods') && sub === 'eviction') return handleEviction(rq);
    throw statusErrors.methodNotAllowed('POST', rq.def.plural);
  }
  if (rq.def.namespaced && !rq.info.namespace) throw statusErrors.methodNotAllowed('POST', rq.def.plural);
  const dryRun = parseDryRun(rq);
  const obj = objectFromBody(rq, await readObjectBody(rq));
  const created = await rq.server.registry.create(rq.def, obj, opContext(rq, dryRun, fieldManagerOf(rq)));
  sendObject(rq, 201, created, fmt);
}

function checkName(rq: RequestScope, obj: KubeObject): void {
  if ((obj.metadata.name ?? '') !== rq.info.name) {
    throw badRequest(`the name of the object (${obj.metadata.name ?? ''}) does not match the name on the URL (${rq.info.name})`);
  }
}

export async function handleUpdate(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'object');
  const sub = subresourceForWrite(rq);
  const dryRun = parseDryRun(rq);
  const format = objectBodyFormat(rq.req.headers['content-type']);
  const buf = await readBody(rq.req, rq.server.maxBodyBytes);
  if (buf.length === 0) throw badRequest('the request body is empty; expected an object');
  const obj = objectFromBody(rq, decodeObjectBody(buf, format));
  checkName(rq, obj);
  // A JSON body: the first attempt takes `obj` itself, and one retried on a conflict starts from the
  // body as sent, parsed again (its warnings were given once); a deep copy per renewal was ~2 % of
  // its CPU. Other formats may decode to values JSON does not have: each attempt gets a JSON copy.
  const again = format === 'json' ? (): KubeObject => objectFromBody(rq, decodeObjectBody(buf, format), rq.def.kind, apiVersionOfDef(rq), false) : undefined;
  const updated = await rq.server.registry.update(rq.def, namespaceOf(rq), rq.info.name, obj, sub, opContext(rq, dryRun, fieldManagerOf(rq)), again);
  sendObject(rq, 200, updated, fmt);
}

function subresourceForWrite(rq: RequestScope): string {
  const sub = rq.info.subresource;
  if (sub === '') return '';
  if (sub === 'status' && rq.def.subresources.includes('status')) return 'status';
  if (sub === 'finalize' && rq.def.subresources.includes('finalize')) return 'finalize';
  if (sub === 'ephemeralcontainers' && rq.def.subresources.includes('ephemeralcontainers')) return 'ephemeralcontainers';
  throw statusErrors.notFoundPath();
}

export async function handlePatch(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'object');
  const sub = subresourceForWrite(rq);
  const mt = mediaTypeOf(rq.req.headers['content-type']);
  const type: PatchType | undefined = patchMediaTypes[mt];
  if (!type) throw statusErrors.unsupportedMediaType(mt, Object.keys(patchMediaTypes));
  // custom resources have no patch-merge keys: upstream refuses strategic merge for them
  if (type === 'strategic' && rq.def.custom) {
    throw statusErrors.unsupportedMediaType(mt, Object.keys(patchMediaTypes).filter((t) => patchMediaTypes[t] !== 'strategic'));
  }
  const dryRun = parseDryRun(rq);
  const buf = await readBody(rq.req, rq.server.maxBodyBytes);
  const text = decodeUtf8(buf);
  const patch = parseDocument(text, type === 'apply' ? 'yaml' : 'json') as Json;
  const reg = rq.server.registry;
  const ns = namespaceOf(rq);
  const name = rq.info.name;
  const mode = parseFieldValidation(rq.query.get('fieldValidation'));

  if (type === 'apply') {
    const manager = rq.query.get('fieldManager');
    if (!manager) throw badRequest('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const force = isTrue(rq.query.get('force'));
    const applied = objectFromBody(rq, patch);
    checkName(rq, applied);
    const ctx = opContext(rq, dryRun, undefined);
    const existing = await rq.rs.tryGet(ns, name);
    if (!existing && sub === '') {
      const obj = rq.server.patch.serverSideApply(rq.def, undefined, applied, manager, force, reg.now());
      try {
        const created = await reg.create(rq.def, obj, ctx);
        sendObject(rq, 201, created, fmt);
        return;
      } catch (err) {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }
    }
    const updated = await reg.transform(rq.def, ns, name, sub, ctx, (current) =>
      rq.server.patch.serverSideApply(rq.def, current, applied, manager, force, reg.now()),
    );
    sendObject(rq, 200, updated, fmt);
    return;
  }

  if (type !== 'json' && !isPlainObject(patch)) throw badRequest('the patch must be a JSON object');
  const ctx = opContext(rq, dryRun, fieldManagerOf(rq));
  const updated = await reg.transform(rq.def, ns, name, sub, ctx, (current) => {
    const result = rq.server.patch.patch(rq.def, type, current, patch);
    if (mode !== 'Ignore' || type === 'json') {
      // Schema problems introduced by the patch are reported like a decoding error of the result.
      const warnings = rq.server.fields.check(rq.def, result, mode);
      for (const w of warnings) if (!rq.warnings.includes(w)) rq.warnings.push(w);
    }
    if (isPlainObject(result.metadata) && result.metadata.name !== undefined && result.metadata.name !== name) {
      throw badRequest(`the name of the object (${String(result.metadata.name)}) does not match the name on the URL (${name})`);
    }
    return result;
  });
  sendObject(rq, 200, updated, fmt);
}

/** DeleteOptions from the body (if any) and the query. */
async function parseDeleteOptions(rq: RequestScope): Promise<{ options: DeleteOptions; dryRun: boolean }> {
  const options: DeleteOptions = {};
  let dryRun = parseDryRun(rq);
  const buf = await readBody(rq.req, rq.server.maxBodyBytes);
  if (buf.length > 0) {
    const body = decodeObjectBody(buf, objectBodyFormat(rq.req.headers['content-type']));
    if (body !== null) {
      if (!isPlainObject(body)) throw badRequest('DeleteOptions must be an object');
      const b = body as {
        gracePeriodSeconds?: unknown;
        propagationPolicy?: unknown;
        orphanDependents?: unknown;
        preconditions?: unknown;
        dryRun?: unknown;
      };
      if (b.gracePeriodSeconds !== undefined && b.gracePeriodSeconds !== null) {
        if (typeof b.gracePeriodSeconds !== 'number' || !Number.isInteger(b.gracePeriodSeconds)) {
          throw badRequest('DeleteOptions.gracePeriodSeconds must be an integer');
        }
        options.gracePeriodSeconds = b.gracePeriodSeconds;
      }
      if (b.propagationPolicy !== undefined && b.propagationPolicy !== null) options.propagationPolicy = checkPropagation(b.propagationPolicy);
      if (b.preconditions !== undefined && b.preconditions !== null) {
        if (!isPlainObject(b.preconditions)) throw badRequest('DeleteOptions.preconditions must be an object');
        const p = b.preconditions as { uid?: unknown; resourceVersion?: unknown };
        options.preconditions = {
          uid: typeof p.uid === 'string' ? p.uid : undefined,
          resourceVersion: typeof p.resourceVersion === 'string' ? p.resourceVersion : undefined,
        };
      }
      if (Array.isArray(b.dryRun)) {
        for (const v of b.dryRun) if (v !== 'All') throw new HedgeError('BadRequest', `Invalid dryRun value: ${JSON.stringify(v)}`);
        if (b.dryRun.length > 0) dryRun = true;
      }
    }
  }
  const g = rq.query.get('gracePeriodSeconds');
  if (g !== null && g !== '') {
    if (!/^-?\d+$/.test(g)) throw badRequest(`invalid value for gracePeriodSeconds: ${JSON.stringify(g)}`);
    options.gracePeriodSeconds = Number(g);
  }
  const pp = rq.query.get('propagationPolicy');
  if (pp) options.propagationPolicy = checkPropagation(pp);
  return { options, dryRun };
}

function checkPropagation(v: unknown): 'Orphan' | 'Background' | 'Foreground' {
  if (v === 'Orphan' || v === 'Background' || v === 'Foreground') return v;
  throw new HedgeError('Invalid', `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: ${JSON.stringify(v)}: supported values: "Foreground", "Background", "Orphan", "nil"`, {
    details: { causes: [{ reason: 'FieldValueNotSupported', field: 'propagationPolicy', message: `Unsupported value: ${JSON.stringify(v)}` }] },
  });
}

export async function handleDelete(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'object');
  if (rq.info.subresource !== '') throw statusErrors.methodNotAllowed('DELETE', rq.def.plural);
  const { options, dryRun } = await parseDeleteOptions(rq);
  const out = await rq.server.registry.delete(rq.def, namespaceOf(rq), rq.info.name, options, opContext(rq, dryRun, undefined));
  if (!out.deleted || returnsDeletedObject(rq.def)) {
    sendObject(rq, 200, out.obj, fmt);
    return;
  }
  sendObject(
    rq,
    200,
    successStatus({ name: rq.info.name, group: rq.def.group || undefined, kind: rq.def.plural, uid: out.obj.obj.metadata.uid }) as unknown as KubeObject,
    fmt,
  );
}

export async function handleDeleteCollection(rq: RequestScope): Promise<void> {
  const fmt = negotiateOutput(rq.req.headers.accept, 'list');
  if (!rq.def.verbs.includes('deletecollection')) throw statusErrors.methodNotAllowed('DELETE', rq.def.plural);
  const { options, dryRun } = await parseDeleteOptions(rq);
  const { match, filtering } = compileMatcher(rq);
  const ns = namespaceOf(rq);
  const reg = rq.server.registry;
  const page = await rq.rs.list(ns || undefined, {});
  const deleted = [];
  for (const kv of page.items) {
    const d = rq.rs.codec.decode(kv);
    if (filtering && !match(d.obj)) continue;
    try {
      const out = await reg.delete(rq.def, d.obj.metadata.namespace ?? '', d.obj.metadata.name ?? '', options, opContext(rq, dryRun, undefined));
      deleted.push(out.obj);
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
    }
  }
  sendList(rq, deleted, { resourceVersion: String(await reg.store.currentRevision()) }, fmt);
}

/** what an eviction is admitted as */
const EVICTION_KIND = { group: 'policy', version: 'v1', kind: 'Eviction' };

/**
 * POST pods/{name}/eviction: a delete that PodDisruptionBudgets may refuse (`eviction.ts`).
 * Admitted as upstream's EvictionREST is: a CREATE of `pods/eviction` with the policy/v1
 * Eviction (mutating, then validating plugins); the pod's deletion is not admitted again.
 */
async function handleEviction(rq: RequestScope): Promise<void> {
  let dryRun = parseDryRun(rq);
  const body = objectFromBody(rq, await readObjectBody(rq), 'Eviction', 'policy/v1');
  if ((body.metadata.name ?? '') !== rq.info.name) throw badRequest('name in URL does not match name in Eviction object');
  const opts = (body as { deleteOptions?: { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: unknown } }).deleteOptions ?? {};
  // propagateDryRun: the request's dryRun and the Eviction's deleteOptions.dryRun must agree when both are given
  if (opts.dryRun !== undefined && opts.dryRun !== null) {
    if (!Array.isArray(opts.dryRun) || opts.dryRun.some((v) => v !== 'All')) throw badRequest(`Invalid dryRun value: ${JSON.stringify(opts.dryRun)}: supported values: "All"`);
    const inBody = opts.dryRun.length > 0;
    if (rq.query.getAll('dryRun').length > 0 && !inBody) {
      throw badRequest(`Non-matching dry-run options in request and content: [${rq.query.getAll('dryRun').join(' ')}] and []`);
    }
    dryRun ||= inBody;
  }
  const ctx = opContext(rq, dryRun, undefined);
  const reg = rq.server.registry;
  await reg.admit(admissionRequest(ctx, { operation: 'CREATE', def: rq.def, subresource: 'eviction', kind: EVICTION_KIND, object: body, name: rq.info.name, namespace: namespaceOf(rq) }));
  const status = await evictPod(rq, { namespace: namespaceOf(rq), name: rq.info.name, options: { gracePeriodSeconds: opts.gracePeriodSeconds, preconditions: opts.preconditions }, ctx });
  sendObject(rq, status.code, status as unknown as KubeObject, { kind: 'json' });
}
