import { parse as parseYaml } from 'yaml';

/** A resource pattern of the config: `secrets`, `deployments.apps`, `*.apps`, `*.` (core) or `*.*`. */
export interface GroupResource {
  group: string;
  resource: string;
}

export type KeyedProviderKind = 'aescbc' | 'aesgcm' | 'secretbox';

export type ProviderSpec = { kind: KeyedProviderKind; keys: { name: string; secret: Buffer }[] } | { kind: 'identity' };

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
 * decodes strictly) and `kms` is refused, as hedge has no KMS plugin client. Secrets never appear
 * in messages.
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
  if (problems.length > 0) throw new EncryptionConfigError(problems);
  return out;
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
      bad(`${at}.kms`, 'Unsupported value: KMS providers are not supported by hedge (no KMS plugin client); use aescbc, aesgcm or secretbox with a local key');
      return undefined;
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
