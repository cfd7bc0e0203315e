import { randomUUID } from 'node:crypto';
import { invalid } from '../../api/meta/field-errors.ts';
import { jsonClone } from '../../lib/json-clone.ts';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain, validatePathSegmentName, type NameValidator } from '../../api/meta/name.ts';
import { validateObjectMeta, validateObjectMetaUpdate } from '../../api/meta/object-meta.ts';
import { isPlainObject, type KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { mutableMeta } from './mutable-meta.ts';
import { HedgeError, type FieldCause } from '../../lib/errors.ts';

/**
 * The generic parts of upstream's REST strategies (BeforeCreate / BeforeUpdate and
 * ValidateObjectMeta): system fields, generation, status/spec separation.
 */

/** RFC 3339 with seconds precision, as metav1.Time marshals. */
export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function invalidObject(def: ResourceDef, name: string, causes: FieldCause[]): HedgeError {
  const errs = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`;
  return new HedgeError('Invalid', `${def.kind}${def.group ? `.${def.group}` : ''} "${name}" is invalid: ${summary}`, {
    details: { kind: def.kind, group: def.group, name, causes },
  });
}

/** Fill system metadata on create. The caller has already resolved namespace and generateName. */
export function prepareForCreate(def: ResourceDef, obj: KubeObject, now: Date): void {
  const m = mutableMeta(obj);
  m.uid = randomUUID();
  m.creationTimestamp = timestamp(now);
  delete m.deletionTimestamp;
  delete m.deletionGracePeriodSeconds;
  delete m.selfLink;
  if (!def.namespaced) delete m.namespace;
  if (tracksGeneration(def, obj)) m.generation = 1;
  else delete m.generation;
}

function tracksGeneration(def: ResourceDef, obj: KubeObject): boolean {
  return def.generationChanged !== undefined || 'spec' in obj;
}

/**
 * Carry system fields over from the stored object and split spec/status writes:
 * the main resource cannot change status, `status` cannot change anything else.
 */
export function prepareForUpdate(def: ResourceDef, obj: KubeObject, old: KubeObject, subresource: string): KubeObject {
  let out = obj;
  if (subresource === 'status') {
    out = jsonClone(old);
    if ('status' in obj) out.status = obj.status;
    else delete out.status;
    mutableMeta(out).resourceVersion = obj.metadata.resourceVersion;
    if (obj.metadata.managedFields !== undefined) out.metadata.managedFields = obj.metadata.managedFields;
    // upstream's pod status strategy keeps the new metadata: Multus (and hedge's agent) write the
    // k8s.v1.cni.cncf.io/network-status annotation through pods/status, the node's only pod write
    if (def.group === '' && def.plural === 'pods' && obj.metadata.annotations !== undefined) out.metadata.annotations = obj.metadata.annotations;
  } else if (subresource === 'ephemeralcontainers') {
    // upstream's EphemeralContainersStrategy: only spec.ephemeralContainers comes from the request
    out = jsonClone(old);
    const spec = (out.spec ?? {}) as Record<string, unknown>;
    const asked = isPlainObject(obj.spec) ? (obj.spec as Record<string, unknown>).ephemeralContainers : undefined;
    if (asked === undefined) delete spec.ephemeralContainers;
    else spec.ephemeralContainers = asked;
    out.spec = spec;
    mutableMeta(out).resourceVersion = obj.metadata.resourceVersion;
    if (obj.metadata.managedFields !== undefined) out.metadata.managedFields = obj.metadata.managedFields;
  } else if (def.hasStatus && subresource === '') {
    if ('status' in old) out.status = jsonClone(old.status);
    else delete out.status;
    // a pod's ephemeral containers change only through pods/ephemeralcontainers
    if (def.group === '' && def.plural === 'pods' && isPlainObject(old.spec) && isPlainObject(out.spec)) {
      const kept = (old.spec as Record<string, unknown>).ephemeralContainers;
      if (kept === undefined) delete (out.spec as Record<string, unknown>).ephemeralContainers;
      else (out.spec as Record<string, unknown>).ephemeralContainers = jsonClone(kept);
    }
  }
  const m = mutableMeta(out);
  const o = old.metadata;
  if (!m.uid) m.uid = o.uid;
  m.creationTimestamp = o.creationTimestamp;
  if (o.deletionTimestamp) m.deletionTimestamp = o.deletionTimestamp;
  else delete m.deletionTimestamp;
  if (o.deletionGracePeriodSeconds !== undefined && m.deletionGracePeriodSeconds === undefined) {
    m.deletionGracePeriodSeconds = o.deletionGracePeriodSeconds;
  }
  if (!def.namespaced) delete m.namespace;
  delete m.selfLink;
  if (o.generation !== undefined && (subresource === 'status' || subresource === 'binding')) {
    // status writes never bump it; a binding is written past the strategy upstream (BindingREST)
    m.generation = o.generation;
  } else if (o.generation !== undefined) {
    const changed = def.generationChanged
      ? def.generationChanged(old, out)
      : JSON.stringify(old.spec ?? null) !== JSON.stringify(out.spec ?? null);
    m.generation = changed && subresource !== 'status' ? o.generation + 1 : o.generation;
  } else {
    delete m.generation;
  }
  return out;
}

function nameValidator(def: ResourceDef): NameValidator {
  if (def.group === '' && def.plural === 'namespaces') return nameIsDNSLabel;
  if (def.group === '' && def.plural === 'services') return nameIsDNS1035Label;
  // RBAC names are path segments: `system:basic-user` must be a valid ClusterRole name
  if (def.group === 'rbac.authorization.k8s.io') return validatePathSegmentName;
  return nameIsDNSSubdomain;
}

/** ValidateObjectMeta on create, ValidateObjectMetaUpdate on update. */
export function validateMeta(def: ResourceDef, obj: KubeObject, old?: KubeObject): FieldCause[] {
  if (!isPlainObject(obj.metadata)) return [invalid('metadata', obj.metadata, 'must be an object')];
  if (old) return validateObjectMetaUpdate(obj.metadata, old.metadata);
  return validateObjectMeta(obj.metadata, { namespaced: def.namespaced, nameFn: nameValidator(def) });
}
