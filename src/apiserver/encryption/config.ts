import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../../lib/duration.ts';

/** A resource pattern of the config: `secrets`, `deployments.apps`, `*.apps`, `*.` (core) or `*.*`. */
export interface GroupResource {
  group: string;
  resource: string;
}

export type KeyedProviderKind = 'aescbc' | 'aesgcm' | 'secretbox';

/** `kms` (apiVersion v2 only): the plugin's unix socket, the per-call timeout (default 3s) */
export interface KmsSpec {
  kind: 'kms';
  name: string;
  endpoint: string;
  timeoutMs: number;
}

export type ProviderSpec = { kind: KeyedProviderKind; keys: { name: string; secret: Buffer }[] } | { kind: 'identity' } | KmsSpec;

/** apiserver.config.k8s.io/v1 EncryptionConfiguration, validated; secrets decoded. */
export interface EncryptionConfig {
  resources: { resources: GroupResource[]; providers: ProviderSpec[] }[];
}

/** Every problem of a config file, each as `<field path>: <reason>` (upstream's field.ErrorList). */
export class EncryptionConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'EncryptionConfigError';
  }
}

const KEY_SIZES: Record<KeyedProviderKind, number[]> = { aescbc: [16, 24, 32], aesgcm: [16, 24, 32], secretbox: [32] };
const PROVIDER_FIELDS = ['aescbc', 'aesgcm', 'secretbox', 'identity', 'kms'] as const;
const API_VERSIONS = ['apiserver.config.k8s.io/v1', 'apiserver.k8s.io/v1'];

/** schema.ParseGroupResource: the resource is what precedes the first dot, the group what follows. */
export function parseGroupResource(s: string): GroupResource {
  const dot = s.indexOf('.');
  return dot < 0 ? { group: '', resource: s } : { group: s.slice(dot + 1), resource: s.slice(0, dot) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Parses and validates an EncryptionConfiguration (YAML or JSON) as kube-apiserver does
 * (apis/apiserver/validation/validation_encryption.go), plus: unknown fields are refused (upstream
 * decodes strictly). `kms` takes apiVersion v2 only (v1 is refused as upstream does with the
 * KMSv1 feature gate off, its default since 1.29). Secrets never appear in messages.
 */
export function parseEncryptionConfiguration(text: string): EncryptionConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new EncryptionConfigError([`not YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  const problems: string[] = [];
  const bad = (path: string, reason: string): void => void problems.push(`${path}: ${reason}`);
  if (!isRecord(doc)) throw new EncryptionConfigError(['must be an EncryptionConfiguration object']);
  for (const k of Object.keys(doc)) if (!['apiVersion', 'kind', 'resources'].includes(k)) bad(k, 'unknown field');
  if (!API_VERSIONS.includes(String(doc.apiVersion))) bad('apiVersion', `Unsupported value: ${JSON.stringify(doc.apiVersion ?? '')}: supported values: "apiserver.config.k8s.io/v1"`);
  if (doc.kind !== 'EncryptionConfiguration') bad('kind', `Unsupported value: ${JSON.stringify(doc.kind ?? '')}: supported values: "EncryptionConfiguration"`);
  const out: EncryptionConfig = { resources: [] };
  if (!Array.isArray(doc.resources) || doc.resources.length === 0) {
    bad('resources', 'Required value: at least one resources is required');
    throw new EncryptionConfigError(problems);
  }
  doc.resources.forEach((entry: unknown, i: number) => {
    const at = `resources[${i}]`;
    if (!isRecord(entry)) return bad(at, 'must be an object with resources and providers');
    for (const k of Object.keys(entry)) if (k !== 'resources' && k !== 'providers') bad(`${at}.${k}`, 'unknown field');
    const resources = validateResources(entry.resources, `${at}.resources`, bad);
    const providers: ProviderSpec[] = [];
    if (!Array.isArray(entry.providers) || entry.providers.length === 0) bad(`${at}.providers`, `Required value: at least one ${at}.providers is required`);
    else entry.providers.forEach((p: unknown, j: number) => {
      const spec = validateProvider(p, `${at}.providers[${j}]`, bad);
      if (spec) providers.push(spec);
    });
    out.resources.push({ resources, providers });
  });
  // KMS provider names are unique across the whole file (the name is in the stored prefix)
  const seen = new Set<string>();
  out.resources.forEach((entry, i) =>
    entry.providers.forEach((p, j) => {
      if (p.kind !== 'kms') return;
      if (seen.has(p.name)) bad(`resources[${i}].providers[${j}].kms.name`, `Invalid value: ${JSON.stringify(p.name)}: duplicate KMS provider name ${p.name}, names must be unique`);
      seen.add(p.name);
    }),
  );
  if (problems.length > 0) throw new EncryptionConfigError(problems);
  return out;
}

const KMS_FIELDS = ['apiVersion', 'name', 'endpoint', 'cachesize', 'timeout'];

/** upstream's validateKMSConfiguration, with apiVersion defaulted to v1 and timeout to 3s as upstream defaults them */
function validateKms(conf: unknown, at: string, bad: (path: string, reason: string) => void): KmsSpec | undefined {
  if (!isRecord(conf)) {
    bad(at, 'must be an object with apiVersion, name, endpoint and timeout');
    return undefined;
  }
  const before = new Set<string>();
  const mark = (path: string, reason: string): void => {
    before.add(path);
    bad(path, reason);
  };
  for (const k of Object.keys(conf)) if (!KMS_FIELDS.includes(k)) mark(`${at}.${k}`, 'unknown field');
  const apiVersion = conf.apiVersion === undefined || conf.apiVersion === '' ? 'v1' : String(conf.apiVersion);
  if (apiVersion === 'v1') {
    mark(`${at}.apiVersion`, 'Invalid value: "v1": KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature. (hedge has no KMSv1: set apiVersion: v2)');
  } else if (apiVersion !== 'v2') mark(`${at}.apiVersion`, `Invalid value: ${JSON.stringify(apiVersion)}: unsupported apiVersion ${apiVersion} for KMS provider, only v1 and v2 are supported`);
  const name = typeof conf.name === 'string' ? conf.name : '';
  if (name === '') mark(`${at}.name`, 'Required value: name is a mandatory field for a KMS provider');
  else if (name.includes(':')) mark(`${at}.name`, `Invalid value: ${JSON.stringify(name)}: invalid KMS provider name ${name}, must not contain ':'`);
  const endpoint = typeof conf.endpoint === 'string' ? conf.endpoint : '';
  if (endpoint === '') mark(`${at}.endpoint`, 'Required value: endpoint is a mandatory field for a KMS provider');
  else {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch (err) {
      mark(`${at}.endpoint`, `Invalid value: ${JSON.stringify(endpoint)}: invalid endpoint for kms provider, error: ${(err as Error).message}`);
    }
    if (url && url.protocol !== 'unix:') mark(`${at}.endpoint`, `Invalid value: ${JSON.stringify(endpoint)}: unsupported scheme ${JSON.stringify(url.protocol.replace(/:$/, ''))} for KMS provider, only unix is supported`);
    else if (url && url.pathname === '') mark(`${at}.endpoint`, `Invalid value: ${JSON.stringify(endpoint)}: the unix socket's path is empty`);
  }
  if (conf.cachesize !== undefined && apiVersion !== 'v1') mark(`${at}.cachesize`, `Invalid value: ${JSON.stringify(conf.cachesize)}: cachesize is not supported in v2`);
  let timeoutMs = 3000;
  if (conf.timeout !== undefined) {
    const ms = typeof conf.timeout === 'string' ? parseDuration(conf.timeout) : undefined;
    if (ms === undefined) mark(`${at}.timeout`, `Invalid value: ${JSON.stringify(conf.timeout)}: a duration such as 3s`);
    else if (ms <= 0) mark(`${at}.timeout`, `Invalid value: ${JSON.stringify(conf.timeout)}: timeout should be a positive value`);
    else timeoutMs = ms;
  }
  if (before.size > 0) return undefined;
  return { kind: 'kms', name, endpoint, timeoutMs };
}

function validateResources(v: unknown, at: string, bad: (path: string, reason: string) => void): GroupResource[] {
  if (!Array.isArray(v) || v.length === 0) {
    bad(at, `Required value: at least one ${at} is required`);
    return [];
  }
  const out: GroupResource[] = [];
  v.forEach((r: unknown, j: number) => {
    const p = `${at}[${j}]`;
    if (typeof r !== 'string' || r === '') return bad(p, 'must be a resource name such as secrets, deployments.apps, *.apps or *.*');
    if (r.toLowerCase() !== r) return bad(p, `Invalid value: ${JSON.stringify(r)}: resource name should not contain capital letters`);
    if (r === '*') return bad(p, `Invalid value: "*": use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources`);
    const gr = parseGroupResource(r);
    if (gr.group === 'events.k8s.io') return bad(p, `Invalid value: ${JSON.stringify(r)}: '*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file`);
    if (gr.group === 'extensions') return bad(p, `Invalid value: ${JSON.stringify(r)}: 'extensions' group has been removed and cannot be used for encryption`);
    if (gr.group === '*' && gr.resource !== '*') return bad(p, `Invalid value: ${JSON.stringify(r)}: encrypting the same resource across groups is not supported`);
    out.push(gr);
  });
  const same = (a: GroupResource, b: GroupResource): boolean => a.group === b.group && a.resource === b.resource;
  if (out.some((a, i) => out.some((b, j) => i !== j && same(a, b)))) bad(at, 'Invalid value: the same resource cannot be specified multiple times');
  const overlap = out.some((a, i) => out.some((b, j) => i !== j && !same(a, b) && ((a.group === '*' && a.resource === '*') || (a.group === b.group && (a.resource === '*' || b.resource === '*')))));
  if (overlap) bad(at, "Invalid value: using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked");
  return out;
}

function validateProvider(p: unknown, at: string, bad: (path: string, reason: string) => void): ProviderSpec | undefined {
  if (!isRecord(p)) {
    bad(at, 'provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity');
    return undefined;
  }
  for (const k of Object.keys(p)) if (!(PROVIDER_FIELDS as readonly string[]).includes(k)) bad(`${at}.${k}`, 'unknown field (providers are aescbc, aesgcm, secretbox, identity, kms)');
  const given = PROVIDER_FIELDS.filter((k) => p[k] !== undefined && p[k] !== null);
  if (given.length === 0) {
    bad(at, 'provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity');
    return undefined;
  }
  if (given.length > 1) {
    bad(at, 'more than one provider specified in a single element, should split into different list elements');
    return undefined;
  }
  const kind = given[0]!;
  switch (kind) {
    case 'kms':
      return validateKms(p.kms, `${at}.kms`, bad);
    case 'identity':
      if (!isRecord(p.identity) || Object.keys(p.identity).length > 0) bad(`${at}.identity`, 'must be an empty object: identity: {}');
      return { kind: 'identity' };
    case 'aescbc':
    case 'aesgcm':
    case 'secretbox': {
      const conf = p[kind];
      const keysAt = `${at}.${kind}.keys`;
      if (!isRecord(conf)) {
        bad(`${at}.${kind}`, 'must be an object with keys');
        return undefined;
      }
      for (const k of Object.keys(conf)) if (k !== 'keys') bad(`${at}.${kind}.${k}`, 'unknown field');
      if (!Array.isArray(conf.keys) || conf.keys.length === 0) {
        bad(keysAt, 'Required value: at least one keys is required');
        return undefined;
      }
      const keys: { name: string; secret: Buffer }[] = [];
      conf.keys.forEach((key: unknown, i: number) => {
        const ka = `${keysAt}[${i}]`;
        if (!isRecord(key)) return bad(ka, 'must be an object with name and secret');
        for (const k of Object.keys(key)) if (k !== 'name' && k !== 'secret') bad(`${ka}.${k}`, 'unknown field');
        const name = typeof key.name === 'string' ? key.name : '';
        if (name === '') bad(`${ka}.name`, 'Required value: name is a mandatory field for a key');
        const secret = typeof key.secret === 'string' ? key.secret : '';
        if (secret === '') return bad(`${ka}.secret`, 'Required value: secret is a mandatory field for a key');
        if (!BASE64.test(secret)) return bad(`${ka}.secret`, 'Invalid value: "REDACTED": secrets must be base64 encoded');
        const bytes = Buffer.from(secret, 'base64');
        const sizes = KEY_SIZES[kind];
        if (!sizes.includes(bytes.length)) return bad(`${ka}.secret`, `Invalid value: "REDACTED": secret is not of the expected length, got ${bytes.length}, expected one of [${sizes.join(' ')}]`);
        keys.push({ name, secret: bytes });
      });
      return { kind, keys };
    }
    default: {
      const never: never = kind;
      return never;
    }
  }
}
