import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { applyJsonPatch, applyMergePatch } from '../../api/patch/index.ts';
import { selectorFromLabelSelector, selectorToString } from '../../api/labels/selector.ts';
import { isPlainObject, type Json, type KubeObject } from '../../api/object.ts';
import { HedgeError, badRequest } from '../../lib/errors.ts';
import { jsonClone } from '../../lib/json-clone.ts';
import { decodeObjectBody, decodeUtf8, objectBodyFormat, parseDocument, readBody } from '../body.ts';
import { mediaTypeOf } from '../negotiate.ts';
import type { SubresourceProvider } from '../providers.ts';
import { mutableMeta } from '../registry/mutable-meta.ts';
import { statusErrors } from '../status.ts';
import type { GroupVersionKind } from '../admission/types.ts';
import { admissionRequest } from '../registry/registry.ts';
import { patchMediaTypes } from './patch-engine.ts';
import { namespaceOf } from './read.ts';
import { sendJson } from './respond.ts';
import type { RequestScope } from './scope.ts';
import { opContext } from './write.ts';

/** what a scale request is admitted as (upstream's scope.Kind of every `<plural>/scale`) */
const SCALE_KIND: GroupVersionKind = { group: 'autoscaling', version: 'v1', kind: 'Scale' };

interface Scalable {
  spec?: { replicas?: number; selector?: LabelSelector };
  status?: { replicas?: number };
}

interface ScaleObject {
  apiVersion: 'autoscaling/v1';
  kind: 'Scale';
  metadata: KubeObject['metadata'];
  spec: { replicas: number };
  status: { replicas: number; selector?: string };
}

/** A custom resource's scale paths (CRD `subresources.scale`): `.spec.replicas`-style JSON paths. */
export interface ScalePaths {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

const segments = (path: string): string[] => path.split('.').filter((x) => x !== '');
function at(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of segments(path)) cur = isPlainObject(cur) ? cur[p] : undefined;
  return cur;
}

/** The autoscaling/v1 Scale view of a Deployment / ReplicaSet / StatefulSet (upstream ScaleREST), or of a custom resource. */
export function scaleOf(obj: KubeObject, paths?: ScalePaths): ScaleObject {
  const s = obj as KubeObject & Scalable;
  const m = obj.metadata;
  let selector: string | undefined;
  let spec: number;
  let status: number;
  if (paths) {
    const sel = paths.labelSelectorPath ? at(obj, paths.labelSelectorPath) : undefined;
    selector = typeof sel === 'string' ? sel : undefined;
    const sp = at(obj, paths.specReplicasPath);
    const st = at(obj, paths.statusReplicasPath);
    spec = typeof sp === 'number' ? sp : 0;
    status = typeof st === 'number' ? st : 0;
  } else {
    try {
      selector = s.spec?.selector ? selectorToString(selectorFromLabelSelector(s.spec.selector)) : undefined;
    } catch {
      selector = undefined;
    }
    spec = s.spec?.replicas ?? 0;
    status = s.status?.replicas ?? 0;
  }
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec },
    status: { replicas: status, ...(selector !== undefined ? { selector } : {}) },
  };
}

function setAt(obj: KubeObject, path: string, value: number): void {
  const segs = segments(path);
  let cur: Record<string, unknown> = obj;
  for (const p of segs.slice(0, -1)) {
    if (!isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[segs[segs.length - 1]] = value;
}

function replicasOf(scale: unknown, name: string): { replicas: number; resourceVersion?: string } {
  if (!isPlainObject(scale)) throw badRequest('the request body must be a Scale object');
  const spec = scale.spec;
  if (spec !== undefined && spec !== null && !isPlainObject(spec)) throw badRequest('Scale in version "v1" cannot be handled as a Scale: spec: expected an object');
  const replicas = isPlainObject(spec) ? spec.replicas : undefined;
  const invalid = (message: string): HedgeError =>
    new HedgeError('Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: ${message}`, {
      details: { kind: 'Scale', group: 'autoscaling', name, causes: [{ field: 'spec.replicas', reason: 'FieldValueInvalid', message }] },
    });
  if (replicas === undefined || replicas === null) return { replicas: 0 };
  if (typeof replicas !== 'number' || !Number.isInteger(replicas)) throw badRequest(`Scale in version "v1" cannot be handled as a Scale: spec.replicas: expected an integer`);
  if (replicas < 0) throw invalid(`Invalid value: ${replicas}: must be greater than or equal to 0`);
  if (replicas > 2147483647) throw invalid(`Invalid value: ${replicas}: must be less than or equal to 2147483647`);
  const meta = isPlainObject(scale.metadata) ? scale.metadata : {};
  if (meta.name !== undefined && meta.name !== name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
  return { replicas, resourceVersion: typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '' ? meta.resourceVersion : undefined };
}

/** `<plural>/scale` for one scalable resource; a custom resource's paths come from its ResourceDef. */
export function scaleProvider(group: string, resource: string): SubresourceProvider {
  return {
    group,
    resource,
    subresource: 'scale',
    async serve(rq: RequestScope): Promise<void> {
      const reg = rq.server.registry;
      const ns = namespaceOf(rq);
      const name = rq.info.name;
      if (name === '') throw statusErrors.notFoundPath();
      const verb = rq.info.verb;
      if (verb === 'get') {
        const cur = await rq.rs.get(ns, name);
        sendJson(rq.res, 200, scaleOf(cur.obj, rq.def.custom?.scale));
        return;
      }
      if (verb !== 'update' && verb !== 'patch') throw statusErrors.methodNotAllowed(rq.req.method ?? '', `${rq.def.plural}/scale`);
      const dryRun = rq.query.getAll('dryRun').length > 0;
      let body: unknown;
      let patchType: string | undefined;
      const buf = await readBody(rq.req, rq.server.maxBodyBytes);
      if (verb === 'update') body = decodeObjectBody(buf, objectBodyFormat(rq.req.headers['content-type']));
      else {
        const mt = mediaTypeOf(rq.req.headers['content-type']);
        patchType = patchMediaTypes[mt];
        if (!patchType || patchType === 'apply') throw statusErrors.unsupportedMediaType(mt, Object.keys(patchMediaTypes).filter((t) => !t.includes('apply')));
        body = parseDocument(decodeUtf8(buf), 'json');
      }
      const fieldManager = rq.query.get('fieldManager') || (rq.req.headers['user-agent'] ?? 'unknown').split('/')[0] || 'unknown';
      const ctx = opContext(rq, dryRun, fieldManager);
      const paths = rq.def.custom?.scale;
      const view = (obj: KubeObject): KubeObject => scaleOf(obj, paths) as unknown as KubeObject;
      // Admitted as upstream's ScaleREST is: an UPDATE of `<plural>/scale` whose object is the
      // autoscaling/v1 Scale (the old one as oldObject). Mutating plugins see the Scale the request
      // asks for (and may change it) before it is applied; validating ones the Scales of the result
      // and of the stored object, after the resource's own validation.
      const out = await reg.transform(rq.def, ns, name, 'scale', ctx, async (current) => {
        const oldScale = view(current);
        // each attempt admits its own copy: a mutating webhook changes the object it is given
        let desired: unknown = jsonClone(body);
        if (patchType === 'json') desired = applyJsonPatch(oldScale as unknown as Json, body as Json);
        else if (patchType !== undefined) desired = applyMergePatch(oldScale as unknown as Json, body as Json);
        // a Scale that is not an object is the client's error before anything is admitted
        replicasOf(desired, name);
        const scale = desired as KubeObject;
        scale.apiVersion ||= 'autoscaling/v1';
        scale.kind ||= 'Scale';
        if (!isPlainObject(scale.metadata)) scale.metadata = {};
        scale.metadata.namespace ||= oldScale.metadata.namespace;
        await reg.admit(admissionRequest(ctx, { operation: 'UPDATE', def: rq.def, subresource: 'scale', kind: SCALE_KIND, object: scale, oldObject: oldScale, name, namespace: ns }), 'mutate');
        const want = replicasOf(scale, name);
        if (want.resourceVersion !== undefined && want.resourceVersion !== current.metadata.resourceVersion && verb === 'update') {
          throw new HedgeError('Conflict', `Operation cannot be fulfilled on ${rq.def.plural}.${rq.def.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`, {
            details: { kind: rq.def.plural, group: rq.def.group, name },
          });
        }
        const obj = current as KubeObject & Scalable;
        if (paths) setAt(obj, paths.specReplicasPath, want.replicas);
        else obj.spec = { ...obj.spec, replicas: want.replicas };
        delete mutableMeta(obj).resourceVersion;
        return obj;
      }, { admission: { kind: SCALE_KIND, of: view } });
      sendJson(rq.res, 200, scaleOf(out.obj, rq.def.custom?.scale));
    },
  };
}
