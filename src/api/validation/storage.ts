import type { PersistentVolumeSpec } from 'kubernetes-types/core/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { validateLabelSelector } from '../labels/validate.ts';
import { child, forbidden, index, invalid, key, notSupported, required } from '../meta/field-errors.ts';
import { isDNS1123Subdomain, isQualifiedName } from '../meta/name-formats.ts';
import { tryParseQuantity, type Quantity } from '../meta/quantity.ts';
import { ACCESS_MODES, BINDING_MODES, RECLAIM_POLICIES, VOLUME_MODES } from '../storage/names.ts';
import type { PersistentVolumeClaimObject, PersistentVolumeObject, StorageClassObject } from '../storage/claims.ts';
import { nodeSelectorTerm } from './scheduling.ts';
import { semanticEqual } from './semantic.ts';

/** A quantity's bad value prints unquoted upstream (field.Error formats a fmt.Stringer with %s). */
const quantityCause = (field: string, q: Quantity, detail: string): FieldCause => ({ field, reason: 'FieldValueInvalid', message: `Invalid value: ${q.toString()}: ${detail}` });

/** ValidateResourceQuantityValue (+ ValidatePositiveQuantityValue when `positive`) */
function quantityAt(raw: unknown, path: string, causes: FieldCause[], positive: boolean): void {
  const q = tryParseQuantity(typeof raw === 'number' ? String(raw) : (raw as string));
  if (typeof q === 'string') {
    causes.push(invalid(path, raw, q));
    return;
  }
  if (q.sign() < 0) causes.push(quantityCause(path, q, 'must be greater than or equal to 0'));
  else if (positive && q.sign() === 0) causes.push(quantityCause(path, q, 'must be greater than zero'));
}

/** ValidatePersistentVolumeClaimSpec's and the PV's access mode rules */
function accessModes(modes: readonly string[] | undefined, path: string, causes: FieldCause[]): void {
  if (!modes?.length) {
    causes.push(required(path, 'at least 1 access mode is required'));
    return;
  }
  for (const m of modes) if (!(ACCESS_MODES as readonly string[]).includes(m)) causes.push(notSupported(path, m, ACCESS_MODES));
  if (modes.includes('ReadWriteOncePod') && modes.length > 1) causes.push(forbidden(path, 'may not use ReadWriteOncePod with other access modes'));
}

function volumeMode(mode: string | undefined, path: string, causes: FieldCause[]): void {
  if (mode !== undefined && !(VOLUME_MODES as readonly string[]).includes(mode)) causes.push(notSupported(path, mode, VOLUME_MODES));
}

function className(name: string | undefined, path: string, causes: FieldCause[]): void {
  if (name) for (const msg of isDNS1123Subdomain(name)) causes.push(invalid(path, name, msg));
}

/** ValidatePersistentVolumeClaimSpec, as it is checked for claims and StatefulSet volumeClaimTemplates */
export function validateClaimSpec(spec: PersistentVolumeClaimObject['spec'], path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  if (!spec) return [required(path)];
  accessModes(spec.accessModes, child(path, 'accessModes'), causes);
  if (spec.selector) causes.push(...validateLabelSelector(spec.selector, child(path, 'selector')));
  const requests = (spec.resources?.requests ?? {}) as Record<string, unknown>;
  const storagePath = key(child(path, 'resources'), 'storage');
  if (requests.storage === undefined) causes.push(required(storagePath, ''));
  else quantityAt(requests.storage, storagePath, causes, true);
  className(spec.storageClassName, child(path, 'storageClassName'), causes);
  volumeMode(spec.volumeMode, child(path, 'volumeMode'), causes);
  return causes;
}

/** ValidatePersistentVolumeClaim and, on update, ValidatePersistentVolumeClaimUpdate */
export function validatePersistentVolumeClaim(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const pvc = obj as PersistentVolumeClaimObject;
  const causes = validateClaimSpec(pvc.spec, 'spec');
  if (!oldObj) return causes;
  const old = oldObj as PersistentVolumeClaimObject;
  // what may change: the binder fills an empty volumeName; a bound claim's requests; the attributes class
  const next = structuredClone(pvc.spec ?? {});
  const prev = structuredClone(old.spec ?? {});
  if (!prev.volumeName) prev.volumeName = next.volumeName;
  if (pvc.status?.phase === 'Bound') next.resources = { ...next.resources, requests: prev.resources?.requests };
  delete next.volumeAttributesClassName;
  delete prev.volumeAttributesClassName;
  if (!semanticEqual(next, prev)) {
    causes.push(forbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'));
  }
  const was = tryParseQuantity(String((old.spec?.resources?.requests as Record<string, unknown> | undefined)?.storage ?? ''));
  const now = tryParseQuantity(String((pvc.spec?.resources?.requests as Record<string, unknown> | undefined)?.storage ?? ''));
  if (typeof was !== 'string' && typeof now !== 'string' && now.cmp(was) < 0) causes.push(forbidden('spec.resources.requests.storage', 'field can not be less than previous value'));
  return causes;
}

/** the volume sources hedge stores for PVs (each is the node's to mount; local-path PVs use csi) */
const VOLUME_SOURCES = [
  'hostPath', 'local', 'csi', 'nfs', 'iscsi', 'fc', 'rbd', 'cephfs', 'cinder', 'flexVolume', 'glusterfs',
  'azureFile', 'azureDisk', 'awsElasticBlockStore', 'gcePersistentDisk', 'vsphereVolume', 'portworxVolume',
  'photonPersistentDisk', 'quobyte', 'scaleIO', 'storageos', 'flocker',
] as const;

function isAbsolute(p: string): boolean {
  return p.startsWith('/');
}

function hasDotDot(p: string): boolean {
  return p.split('/').includes('..');
}

/** the per-source checks of ValidatePersistentVolumeSpec for the sources hedge knows */
function sourceCauses(spec: PersistentVolumeSpec, source: string, causes: FieldCause[]): void {
  const p = `spec.${source}`;
  switch (source) {
    case 'hostPath': {
      const path = spec.hostPath?.path ?? '';
      if (!path) causes.push(required(child(p, 'path'), ''));
      else if (hasDotDot(path)) causes.push(invalid(child(p, 'path'), path, "must not contain '..'"));
      const types = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'];
      const t = spec.hostPath?.type;
      if (t !== undefined && !types.includes(t)) causes.push(notSupported(child(p, 'type'), t, types));
      return;
    }
    case 'local': {
      const path = spec.local?.path ?? '';
      if (!path) causes.push(required(child(p, 'path'), ''));
      else if (hasDotDot(path)) causes.push(invalid(child(p, 'path'), path, "must not contain '..'"));
      if (!spec.nodeAffinity) causes.push(required('spec.nodeAffinity', 'Local volume requires node affinity'));
      return;
    }
    case 'csi': {
      const driver = spec.csi?.driver ?? '';
      if (!driver) causes.push(required(child(p, 'driver'), ''));
      else for (const msg of isDNS1123Subdomain(driver.toLowerCase())) causes.push(invalid(child(p, 'driver'), driver, msg));
      if (!spec.csi?.volumeHandle) causes.push(required(child(p, 'volumeHandle'), ''));
      return;
    }
    case 'nfs': {
      if (!spec.nfs?.server) causes.push(required(child(p, 'server'), ''));
      const path = spec.nfs?.path ?? '';
      if (!path) causes.push(required(child(p, 'path'), ''));
      else if (!isAbsolute(path)) causes.push(invalid(child(p, 'path'), path, 'must be an absolute path'));
      return;
    }
  }
}

/** ValidatePersistentVolume (+ ValidatePersistentVolumeUpdate) */
export function validatePersistentVolume(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const pv = obj as PersistentVolumeObject;
  const spec = pv.spec;
  if (!spec) return [required('spec')];
  const causes: FieldCause[] = [];
  accessModes(spec.accessModes, 'spec.accessModes', causes);
  const capacity = (spec.capacity ?? {}) as Record<string, unknown>;
  if (Object.keys(capacity).length === 0) causes.push(required('spec.capacity', ''));
  else if (!('storage' in capacity) || Object.keys(capacity).length > 1) causes.push(notSupported('spec.capacity', capacity, ['storage']));
  for (const [name, raw] of Object.entries(capacity)) quantityAt(raw, key('spec.capacity', name), causes, false);
  const policy = spec.persistentVolumeReclaimPolicy;
  if (policy !== undefined && !(RECLAIM_POLICIES as readonly string[]).includes(policy)) causes.push(notSupported('spec.persistentVolumeReclaimPolicy', policy, RECLAIM_POLICIES));
  className(spec.storageClassName, 'spec.storageClassName', causes);
  volumeMode(spec.volumeMode, 'spec.volumeMode', causes);
  const sources = VOLUME_SOURCES.filter((s) => (spec as Record<string, unknown>)[s] != null);
  if (sources.length === 0) causes.push(required('spec', 'must specify a volume type'));
  for (const extra of sources.slice(1)) causes.push(forbidden(`spec.${extra}`, 'may not specify more than 1 volume type'));
  if (sources.length === 1) sourceCauses(spec, sources[0], causes);
  if (spec.nodeAffinity) {
    const req = spec.nodeAffinity.required;
    if (!req) causes.push(required('spec.nodeAffinity.required', 'must specify required node constraints'));
    else {
      const terms = 'spec.nodeAffinity.required.nodeSelectorTerms';
      if (!req.nodeSelectorTerms?.length) causes.push(required(terms, 'must have at least one node selector term'));
      (req.nodeSelectorTerms ?? []).forEach((t, i) => nodeSelectorTerm(t, index(terms, i), causes));
    }
  }
  if (spec.claimRef && !spec.claimRef.name) causes.push(required('spec.claimRef.name', ''));
  if (oldObj) {
    const old = (oldObj as PersistentVolumeObject).spec ?? {};
    const src = (s: PersistentVolumeSpec) => Object.fromEntries(VOLUME_SOURCES.map((k) => [k, (s as Record<string, unknown>)[k]]));
    if (!semanticEqual(src(spec), src(old))) causes.push(forbidden('spec.persistentvolumesource', 'spec.persistentvolumesource is immutable after creation'));
    if ((spec.volumeMode ?? 'Filesystem') !== (old.volumeMode ?? 'Filesystem')) causes.push(invalid('spec.volumeMode', spec.volumeMode, 'field is immutable'));
    if (old.nodeAffinity && !semanticEqual(spec.nodeAffinity, old.nodeAffinity)) causes.push(invalid('spec.nodeAffinity', spec.nodeAffinity, 'field is immutable once set'));
  }
  return causes;
}

/** ValidateStorageClass (+ ValidateStorageClassUpdate) */
export function validateStorageClass(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const sc = obj as StorageClassObject;
  const causes: FieldCause[] = [];
  if (!sc.provisioner) causes.push(required('provisioner', ''));
  else for (const msg of isQualifiedName(sc.provisioner.toLowerCase())) causes.push(invalid('provisioner', sc.provisioner, msg));
  if (sc.reclaimPolicy !== undefined && !['Delete', 'Retain'].includes(sc.reclaimPolicy)) causes.push(notSupported('reclaimPolicy', sc.reclaimPolicy, ['Delete', 'Retain']));
  if (sc.volumeBindingMode === undefined) causes.push(required('volumeBindingMode', ''));
  else if (!(BINDING_MODES as readonly string[]).includes(sc.volumeBindingMode)) causes.push(notSupported('volumeBindingMode', sc.volumeBindingMode, BINDING_MODES));
  for (const [k, v] of Object.entries(sc.parameters ?? {})) if (typeof v !== 'string') causes.push(invalid(key('parameters', k), v, 'must be a string'));
  if (oldObj) {
    const old = oldObj as StorageClassObject;
    if (!semanticEqual(sc.parameters, old.parameters)) causes.push(forbidden('parameters', 'updates to parameters are forbidden.'));
    if (sc.provisioner !== old.provisioner) causes.push(forbidden('provisioner', 'updates to provisioner are forbidden.'));
    if ((sc.reclaimPolicy ?? 'Delete') !== (old.reclaimPolicy ?? 'Delete')) causes.push(forbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'));
    if (sc.volumeBindingMode !== old.volumeBindingMode) causes.push(invalid('volumeBindingMode', sc.volumeBindingMode, 'field is immutable'));
  }
  return causes;
}
