import { apiVersionOf, type ResourceDef, type Verb } from './types.ts';

const pathKeyOf = (def: ResourceDef): string => `${def.group}/${def.version}/${def.plural}`;

export interface GroupInfo {
  group: string;
  versions: string[];
  preferredVersion: string;
}

/**
 * Lookup tables over the served ResourceDefs: the built-in ones from startup, plus those of
 * CustomResourceDefinitions added and removed while the server runs. The apiserver asks it for
 * routing (group/version/plural) and for decoding bodies (apiVersion/kind); `revision` changes
 * with every add/remove, so derived documents (discovery, OpenAPI) know when to rebuild.
 */
export class ResourceRegistry {
  #defs: ResourceDef[];
  readonly #byPath = new Map<string, ResourceDef>();
  readonly #byKind = new Map<string, ResourceDef>();
  #revision = 0;
  #snapshot: ResourceDef[] | undefined;

  constructor(defs: ResourceDef[]) {
    this.#defs = [];
    for (const def of defs) {
      if (this.#byPath.has(pathKeyOf(def))) throw new Error(`duplicate resource ${pathKeyOf(def)}`);
      this.#index(def);
    }
  }

  #index(def: ResourceDef): void {
    this.#defs.push(def);
    this.#byPath.set(pathKeyOf(def), def);
    // a kind can be served by two resources (core and events.k8s.io Event differ by group,
    // so the apiVersion keeps them apart); first wins for same apiVersion+kind
    const kindKey = `${apiVersionOf(def)}/${def.kind}`;
    if (!this.#byKind.has(kindKey)) this.#byKind.set(kindKey, def);
  }

  /** bumped by every add/remove */
  get revision(): number {
    return this.#revision;
  }

  /** Serve `defs` (replacing any def at the same group/version/plural). */
  add(defs: ResourceDef[]): void {
    if (defs.length === 0) return;
    const keys = new Set(defs.map(pathKeyOf));
    this.#rebuild([...this.#defs.filter((d) => !keys.has(pathKeyOf(d))), ...defs]);
  }

  /** Stop serving every def `drop` selects. */
  remove(drop: (def: ResourceDef) => boolean): void {
    const keep = this.#defs.filter((d) => !drop(d));
    if (keep.length !== this.#defs.length) this.#rebuild(keep);
  }

  #rebuild(defs: ResourceDef[]): void {
    this.#defs = [];
    this.#byPath.clear();
    this.#byKind.clear();
    for (const d of defs) this.#index(d);
    this.#revision++;
    this.#snapshot = undefined;
  }

  /** The served defs. The same array (by identity) until the next add/remove; do not modify it. */
  all(): ResourceDef[] {
    this.#snapshot ??= [...this.#defs];
    return this.#snapshot;
  }

  byGroupVersion(group: string, version: string): ResourceDef[] {
    return this.#defs.filter((d) => d.group === group && d.version === version);
  }

  lookup(group: string, version: string, plural: string): ResourceDef | undefined {
    return this.#byPath.get(`${group}/${version}/${plural}`);
  }

  byKind(apiVersion: string, kind: string): ResourceDef | undefined {
    return this.#byKind.get(`${apiVersion}/${kind}`);
  }

  /** Groups in registration order, core ('') first as upstream lists /api separately. */
  groups(): GroupInfo[] {
    const out = new Map<string, GroupInfo>();
    for (const def of this.#defs) {
      let g = out.get(def.group);
      if (!g) {
        g = { group: def.group, versions: [], preferredVersion: def.version };
        out.set(def.group, g);
      }
      if (!g.versions.includes(def.version)) g.versions.push(def.version);
    }
    const list = [...out.values()];
    return [...list.filter((g) => g.group === ''), ...list.filter((g) => g.group !== '')];
  }
}

/** What discovery shows for `<plural>/<sub>`: upstream gives each subresource its own kind and verbs. */
export interface SubresourceInfo {
  kind: string;
  verbs: Verb[] | string[];
  /** set when the subresource's kind lives in another group (pods/eviction → policy/v1) */
  group?: string;
  version?: string;
}

export function subresourceInfo(def: ResourceDef, sub: string): SubresourceInfo {
  switch (sub) {
    case 'status':
      return { kind: def.kind, verbs: ['get', 'patch', 'update'] };
    case 'scale':
      return { kind: 'Scale', verbs: ['get', 'patch', 'update'], group: 'autoscaling', version: 'v1' };
    case 'finalize':
      return { kind: def.kind, verbs: ['update'] };
    case 'binding':
      return { kind: 'Binding', verbs: ['create'] };
    case 'eviction':
      return { kind: 'Eviction', verbs: ['create'], group: 'policy', version: 'v1' };
    case 'log':
      return { kind: def.kind, verbs: ['get'] };
    case 'exec':
      return { kind: 'PodExecOptions', verbs: ['create', 'get'] };
    case 'attach':
      return { kind: 'PodAttachOptions', verbs: ['create', 'get'] };
    case 'portforward':
      return { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] };
    case 'ephemeralcontainers':
      return { kind: def.kind, verbs: ['get', 'patch', 'update'] };
    case 'proxy':
      return { kind: `${def.kind}ProxyOptions`, verbs: ['create', 'delete', 'get', 'patch', 'update'] };
    case 'token':
      return { kind: 'TokenRequest', verbs: ['create'], group: 'authentication.k8s.io', version: 'v1' };
    default:
      return { kind: def.kind, verbs: ['get'] };
  }
}
