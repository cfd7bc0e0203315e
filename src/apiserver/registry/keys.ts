import type { ResourceDef } from '../../api/resources/types.ts';

/**
 * Storage keys like upstream's etcd layout, with the group spelled out so two groups' resources
 * of the same plural never share a prefix: `/registry/<group|core>/<plural>/<ns>/<name>`.
 */
export function resourcePrefix(def: Pick<ResourceDef, 'group' | 'plural' | 'namespaced'>, namespace?: string): string {
  const base = `/registry/${def.group || 'core'}/${def.plural}/`;
  return def.namespaced && namespace ? `${base}${namespace}/` : base;
}

export function objectKey(def: Pick<ResourceDef, 'group' | 'plural' | 'namespaced'>, namespace: string, name: string): string {
  return def.namespaced ? `${resourcePrefix(def, namespace)}${name}` : `${resourcePrefix(def)}${name}`;
}
