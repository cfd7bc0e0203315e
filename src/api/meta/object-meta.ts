import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { validateLabels } from '../labels/validate.ts';
import type { ObjectMeta } from '../object.ts';
import { child, forbidden, invalid, required, tooLong } from './field-errors.ts';
import { isQualifiedName } from './name-formats.ts';
import { nameIsDNSLabel, validatePathSegmentName, type NameValidator } from './name.ts';

export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
export const FIELD_IMMUTABLE = 'field is immutable';

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

export function validateAnnotations(annotations: Record<string, string> | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    // annotation keys are qualified names, except that case does not matter
    for (const msg of isQualifiedName(k.toLowerCase())) causes.push(invalid(path, k, msg));
    if (typeof v !== 'string') causes.push(invalid(path, v, 'annotation values must be strings'));
    size += utf8Length(k) + (typeof v === 'string' ? utf8Length(v) : 0);
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) causes.push(tooLong(path, TOTAL_ANNOTATION_SIZE_LIMIT));
  return causes;
}

export function validateFinalizers(finalizers: string[] | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  const list = finalizers ?? [];
  for (const f of list) for (const msg of isQualifiedName(f)) causes.push(invalid(path, f, msg));
  if (list.includes('orphan') && list.includes('foregroundDeletion')) {
    causes.push(invalid(path, list, 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return causes;
}

export function validateOwnerReferences(refs: OwnerReference[] | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  let firstController = '';
  for (const ref of refs ?? []) {
    const apiVersion = ref.apiVersion ?? '';
    const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
    if (!version) causes.push(invalid(child(path, 'apiVersion'), apiVersion, 'version must not be empty'));
    if (!ref.kind) causes.push(invalid(child(path, 'kind'), ref.kind ?? '', 'kind must not be empty'));
    if (!ref.name) causes.push(invalid(child(path, 'name'), ref.name ?? '', 'name must not be empty'));
    if (!ref.uid) causes.push(invalid(child(path, 'uid'), ref.uid ?? '', 'uid must not be empty'));
    if (ref.controller === true) {
      const cur = `${ref.kind}/${ref.name}`;
      if (firstController) {
        causes.push(
          invalid(
            path,
            refs,
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${cur}`,
          ),
        );
      } else {
        firstController = cur;
      }
    }
  }
  return causes;
}

export interface ObjectMetaRules {
  namespaced: boolean;
  /** how names of this resource are validated (default: DNS-1123 subdomain) */
  nameFn: NameValidator;
}

/** apimachinery ValidateObjectMeta plus the REST layer's path-segment check. */
export function validateObjectMeta(meta: ObjectMeta | undefined, rules: ObjectMetaRules, path = 'metadata'): FieldCause[] {
  const m = meta ?? {};
  const causes: FieldCause[] = [];
  if (m.generateName) {
    for (const msg of rules.nameFn(m.generateName, true)) causes.push(invalid(child(path, 'generateName'), m.generateName, msg));
    const seg = validatePathSegmentName(m.generateName, true);
    if (seg.length) causes.push(invalid(child(path, 'generateName'), m.generateName, seg.join(',')));
  }
  if (!m.name) {
    causes.push(required(child(path, 'name'), 'name or generateName is required'));
  } else {
    for (const msg of rules.nameFn(m.name, false)) causes.push(invalid(child(path, 'name'), m.name, msg));
    const seg = validatePathSegmentName(m.name, false);
    if (seg.length) causes.push(invalid(child(path, 'name'), m.name, seg.join(',')));
  }
  if (rules.namespaced) {
    if (!m.namespace) causes.push(required(child(path, 'namespace')));
    else for (const msg of nameIsDNSLabel(m.namespace, false)) causes.push(invalid(child(path, 'namespace'), m.namespace, msg));
  } else if (m.namespace) {
    causes.push(forbidden(child(path, 'namespace'), 'not allowed on this type'));
  }
  if (m.generation !== undefined && m.generation < 0) {
    causes.push(invalid(child(path, 'generation'), m.generation, 'must be greater than or equal to 0'));
  }
  causes.push(...validateLabels(m.labels, child(path, 'labels')));
  causes.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  causes.push(...validateOwnerReferences(m.ownerReferences, child(path, 'ownerReferences')));
  causes.push(...validateFinalizers(m.finalizers, child(path, 'finalizers')));
  return causes;
}

function sameValue(a: unknown, b: unknown): boolean {
  return (a ?? '') === (b ?? '');
}

/**
 * apimachinery ValidateObjectMetaUpdate: identity fields may not change, generation may not
 * go down, no finalizer may be added once deletion started; labels etc. re-validated.
 */
export function validateObjectMetaUpdate(
  meta: ObjectMeta | undefined,
  old: ObjectMeta | undefined,
  path = 'metadata',
): FieldCause[] {
  const m = meta ?? {};
  const o = old ?? {};
  const causes: FieldCause[] = [];
  if (o.deletionTimestamp) {
    const before = new Set(o.finalizers ?? []);
    const extra = [...new Set(m.finalizers ?? [])].filter((f) => !before.has(f)).sort();
    if (extra.length) {
      causes.push(
        forbidden(
          child(path, 'finalizers'),
          `no new finalizers can be added if the object is being deleted, found new finalizers []string{${extra.map((f) => JSON.stringify(f)).join(', ')}}`,
        ),
      );
    }
  }
  if ((m.generation ?? 0) < (o.generation ?? 0)) {
    causes.push(invalid(child(path, 'generation'), m.generation ?? 0, 'must not be decremented'));
  }
  for (const f of ['name', 'namespace', 'uid', 'creationTimestamp'] as const) {
    if (!sameValue(m[f], o[f])) causes.push(invalid(child(path, f), m[f] ?? '', FIELD_IMMUTABLE));
  }
  causes.push(...validateLabels(m.labels, child(path, 'labels')));
  causes.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  causes.push(...validateOwnerReferences(m.ownerReferences, child(path, 'ownerReferences')));
  causes.push(...validateFinalizers(m.finalizers, child(path, 'finalizers')));
  return causes;
}
