import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { KubeObject } from '../../api/object.ts';
import type { ResourceRef } from '../../client/types.ts';

/** metav1.GetControllerOf */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return (obj.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

/** metav1.NewControllerRef: what a controller stamps on what it creates */
export function controllerRef(owner: KubeObject, res: ResourceRef): OwnerReference {
  return {
    apiVersion: res.group ? `${res.group}/${res.version}` : res.version,
    kind: res.kind ?? '',
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export const objectKey = (obj: KubeObject): string => `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** FNV-1a 32-bit, as upstream hashes pod templates (ComputeHash) */
export function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString over the decimal hash: no vowels, so no words in names */
export function safeEncode(n: number): string {
  return [...String(n)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

/** ComputeHash(template, collisionCount) → the pod-template-hash label value */
export function templateHash(template: unknown, collisionCount?: number): string {
  return safeEncode(fnv32a(stableStringify(template) + (collisionCount ? String(collisionCount) : '')));
}

/** JSON with sorted keys: semantically equal templates hash the same */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableStringify(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
