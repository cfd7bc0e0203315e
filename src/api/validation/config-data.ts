import type { ConfigMap, Secret } from 'kubernetes-types/core/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { forbidden, invalid, key, required, tooLong } from '../meta/field-errors.ts';
import { isConfigMapKey } from '../meta/name-formats.ts';

/** core.MaxSecretSize: also the ConfigMap limit. */
export const MAX_DATA_SIZE = 1024 * 1024;

const IMMUTABLE_WHEN_SET = 'field is immutable when `immutable` is set';
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function validateConfigMap(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const cm = obj as unknown as ConfigMap;
  const causes: FieldCause[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(cm.data ?? {})) {
    for (const msg of isConfigMapKey(k)) causes.push(invalid(key('data', k), k, msg));
    if (cm.binaryData && k in cm.binaryData) causes.push(invalid(key('data', k), k, 'duplicate of key present in binaryData'));
    size += typeof v === 'string' ? Buffer.byteLength(v) : 0;
  }
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) {
    for (const msg of isConfigMapKey(k)) causes.push(invalid(key('binaryData', k), k, msg));
    if (cm.data && k in cm.data) causes.push(invalid(key('binaryData', k), k, 'duplicate of key present in data'));
    if (typeof v !== 'string' || !BASE64_RE.test(v)) causes.push(invalid(key('binaryData', k), '<binary>', 'illegal base64 data'));
    else size += Buffer.from(v, 'base64').length;
  }
  if (size > MAX_DATA_SIZE) causes.push(tooLong('', MAX_DATA_SIZE));
  if (oldObj) causes.push(...immutableData(cm, oldObj as unknown as ConfigMap, ['data', 'binaryData']));
  return causes;
}

function immutableData<T extends { immutable?: boolean }>(cur: T, old: T, fields: (keyof T & string)[]): FieldCause[] {
  if (old.immutable !== true) return [];
  const causes: FieldCause[] = [];
  if (cur.immutable !== true) causes.push(forbidden('immutable', IMMUTABLE_WHEN_SET));
  for (const f of fields) {
    if (JSON.stringify(cur[f] ?? {}) !== JSON.stringify(old[f] ?? {})) causes.push(forbidden(f, IMMUTABLE_WHEN_SET));
  }
  return causes;
}

/** Keys each built-in Secret type must carry. */
const REQUIRED_KEYS: Record<string, string[]> = {
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
};

export function validateSecret(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const s = obj as unknown as Secret;
  const causes: FieldCause[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(s.data ?? {})) {
    for (const msg of isConfigMapKey(k)) causes.push(invalid(key('data', k), k, msg));
    if (typeof v !== 'string' || !BASE64_RE.test(v)) causes.push(invalid(key('data', k), '<secret contents redacted>', 'illegal base64 data'));
    else size += Buffer.from(v, 'base64').length;
  }
  // what defaulting left in stringData (it merges the strings into data)
  for (const [k, v] of Object.entries(s.stringData ?? {})) {
    for (const msg of isConfigMapKey(k)) causes.push(invalid(key('stringData', k), k, msg));
    if (typeof v !== 'string') causes.push(invalid(key('stringData', k), '<secret contents redacted>', 'must be a string'));
    else size += Buffer.byteLength(v);
  }
  if (size > MAX_DATA_SIZE) causes.push(tooLong('data', MAX_DATA_SIZE));
  const type = s.type ?? 'Opaque';
  const present = new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})]);
  for (const k of REQUIRED_KEYS[type] ?? []) if (!present.has(k)) causes.push(required(key('data', k)));
  if (type === 'kubernetes.io/service-account-token' && !s.metadata?.annotations?.['kubernetes.io/service-account.name']) {
    causes.push(required('metadata.annotations[kubernetes.io/service-account.name]'));
  }
  if (type === 'kubernetes.io/basic-auth' && !present.has('username') && !present.has('password')) {
    causes.push(required(key('data', 'username[password]'), 'either username or password or both must be provided'));
  }
  if (oldObj) {
    const old = oldObj as unknown as Secret;
    if ((old.type ?? 'Opaque') !== type) causes.push(invalid('type', type, 'field is immutable'));
    causes.push(...immutableData(s, old, ['data']));
  }
  return causes;
}
