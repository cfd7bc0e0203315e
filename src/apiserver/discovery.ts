import { createHash } from 'node:crypto';
import { subresourceInfo, type ResourceRegistry } from '../api/resources/index.ts';
import type { ResourceDef } from '../api/resources/types.ts';

/**
 * Discovery documents: the legacy per-group-version APIResourceList / APIGroupList, and
 * aggregated discovery (apidiscovery.k8s.io/v2) that kubectl asks for first.
 */

const gv = (group: string, version: string): string => (group ? `${group}/${version}` : version);

/** upstream: base64 of the first 8 bytes of sha256("<group>/<version>/<kind>") */
function storageVersionHash(def: ResourceDef): string {
  return createHash('sha256').update(`${def.group}/${def.version}/${def.kind}`).digest().subarray(0, 8).toString('base64');
}

function sortedVerbs(verbs: readonly string[]): string[] {
  return [...verbs].sort();
}

export interface APIResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  storageVersionHash?: string;
}

export function apiResourceList(registry: ResourceRegistry, group: string, version: string): object | undefined {
  const defs = registry.byGroupVersion(group, version);
  if (defs.length === 0) return undefined;
  const resources: APIResource[] = [];
  for (const def of defs) {
    const r: APIResource = {
      name: def.plural,
      singularName: def.singular,
      namespaced: def.namespaced,
      kind: def.kind,
      verbs: sortedVerbs(def.verbs),
    };
    if (def.shortNames.length > 0) r.shortNames = def.shortNames;
    if (def.categories.length > 0) r.categories = def.categories;
    r.storageVersionHash = storageVersionHash(def);
    resources.push(r);
    for (const sub of def.subresources) {
      const info = subresourceInfo(def, sub);
      const s: APIResource = { name: `${def.plural}/${sub}`, singularName: '', namespaced: def.namespaced, kind: info.kind, verbs: sortedVerbs(info.verbs) };
      if (info.group !== undefined) s.group = info.group;
      if (info.version !== undefined) s.version = info.version;
      resources.push(s);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv(group, version), resources };
}

export function apiVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(registry: ResourceRegistry, group: string): object | undefined {
  const g = registry.groups().find((x) => x.group === group);
  if (!g || group === '') return undefined;
  return {
    name: g.group,
    versions: g.versions.map((v) => ({ groupVersion: gv(g.group, v), version: v })),
    preferredVersion: { groupVersion: gv(g.group, g.preferredVersion), version: g.preferredVersion },
  };
}

export function apiGroupList(registry: ResourceRegistry): object {
  const groups = registry
    .groups()
    .filter((g) => g.group !== '')
    .map((g) => apiGroup(registry, g.group));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroupDoc(registry: ResourceRegistry, group: string): object | undefined {
  const g = apiGroup(registry, group);
  return g && { kind: 'APIGroup', apiVersion: 'v1', ...g };
}

function discoveryResource(def: ResourceDef): object {
  const r: Record<string, unknown> = {
    resource: def.plural,
    responseKind: { group: def.group, version: def.version, kind: def.kind },
    scope: def.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: def.singular,
    verbs: sortedVerbs(def.verbs),
  };
  if (def.shortNames.length > 0) r.shortNames = def.shortNames;
  if (def.categories.length > 0) r.categories = def.categories;
  if (def.subresources.length > 0) {
    r.subresources = def.subresources.map((sub) => {
      const info = subresourceInfo(def, sub);
      return {
        subresource: sub,
        responseKind: { group: info.group ?? def.group, version: info.version ?? def.version, kind: info.kind },
        verbs: sortedVerbs(info.verbs),
      };
    });
  }
  return r;
}

/** APIGroupDiscoveryList for /api (core only) or /apis (every named group). */
export function aggregatedDiscovery(registry: ResourceRegistry, which: 'api' | 'apis', version: 'v2' | 'v2beta1'): object {
  const items = registry
    .groups()
    .filter((g) => (which === 'api' ? g.group === '' : g.group !== ''))
    .map((g) => {
      // preferred version first, as upstream orders versions by priority
      const versions = [g.preferredVersion, ...g.versions.filter((v) => v !== g.preferredVersion)];
      return {
        metadata: g.group ? { name: g.group, creationTimestamp: null } : { creationTimestamp: null },
        versions: versions.map((v) => ({
          version: v,
          resources: registry.byGroupVersion(g.group, v).map(discoveryResource),
          freshness: 'Current',
        })),
      };
    });
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}
