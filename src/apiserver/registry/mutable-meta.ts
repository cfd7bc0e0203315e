import type { KubeObject, ObjectMeta } from '../../api/object.ts';

/** kubernetes-types marks server-set fields read-only; the server is the one that sets them. */
export type MutableMeta = { -readonly [K in keyof ObjectMeta]: ObjectMeta[K] };

export function mutableMeta(obj: KubeObject): MutableMeta {
  return obj.metadata as MutableMeta;
}
