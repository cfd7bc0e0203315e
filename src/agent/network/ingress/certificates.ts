/**
 * TLS for the HTTPS listener: the certificate of each `spec.tls` host, picked by SNI; hosts
 * without one (and clients sending no SNI) get the default certificate.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Secret } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../../api/object.ts';
import type { IngressObject } from './routes.ts';

export type SecretObject = Secret & KubeObject;

export interface KeyPair {
  cert: string;
  key: string;
}

/** a Secret named by some served Ingress's `spec.tls` */
export interface TlsRef {
  namespace: string;
  secretName: string;
  hosts: string[];
  ingress: string;
}

/** the `spec.tls` entries of the served Ingresses, oldest Ingress first (the order they win a host in) */
export function tlsRefs(served: readonly IngressObject[]): TlsRef[] {
  const out: TlsRef[] = [];
  for (const ing of served) {
    const ns = ing.metadata.namespace ?? 'default';
    for (const t of ing.spec?.tls ?? []) {
      if (!t.secretName) continue;
      out.push({ namespace: ns, secretName: t.secretName, hosts: (t.hosts ?? []).map((h) => h.toLowerCase()), ingress: `${ns}/${ing.metadata.name ?? ''}` });
    }
  }
  return out;
}

/** the key pair of a `kubernetes.io/tls` Secret (or any with tls.crt and tls.key), or why not */
export function keyPairOf(secret: SecretObject): KeyPair | string {
  if (secret.type !== undefined && secret.type !== 'kubernetes.io/tls' && secret.type !== 'Opaque') return `type is ${secret.type}, not kubernetes.io/tls`;
  const crt = secret.data?.['tls.crt'];
  const key = secret.data?.['tls.key'];
  if (!crt || !key) return 'it has no tls.crt and tls.key';
  return { cert: Buffer.from(crt, 'base64').toString('utf8'), key: Buffer.from(key, 'base64').toString('utf8') };
}

interface Loaded {
  version: string;
  context: SecureContext | undefined;
  error?: string;
}

/**
 * Host → SecureContext. `update` takes the served Ingresses' TLS entries and the Secrets they
 * name (what could be read); a Secret's context is made once per resourceVersion. The first
 * entry naming a host wins it (the oldest Ingress). `*.example.com` entries serve one label.
 */
export class CertificateStore {
  readonly #default: SecureContext;
  /** the default pair itself: a server without SNI from the client is configured by it */
  readonly defaultPair: KeyPair;
  /** `ns/name` → the context made of that Secret version */
  readonly #loaded = new Map<string, Loaded>();
  #exact = new Map<string, SecureContext>();
  #wildcard = new Map<string, SecureContext>();

  constructor(defaultPair: KeyPair) {
    this.#default = createSecureContext(defaultPair);
    this.defaultPair = defaultPair;
  }

  get defaultContext(): SecureContext {
    return this.#default;
  }

  /** returns the problems found (a Secret missing or unusable), for the log */
  update(refs: readonly TlsRef[], secrets: ReadonlyMap<string, SecretObject | undefined>): string[] {
    const problems: string[] = [];
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const used = new Set<string>();
    for (const ref of refs) {
      const key = `${ref.namespace}/${ref.secretName}`;
      used.add(key);
      const secret = secrets.get(key);
      if (!secret) {
        problems.push(`ingress ${ref.ingress}: secret ${key} not found`);
        continue;
      }
      const loaded = this.#load(key, secret);
      if (!loaded.context) {
        problems.push(`ingress ${ref.ingress}: secret ${key}: ${loaded.error ?? 'unusable'}`);
        continue;
      }
      for (const h of ref.hosts) {
        const [map, k] = h.startsWith('*.') ? [wildcard, h.slice(2)] : [exact, h];
        if (!map.has(k)) map.set(k, loaded.context);
      }
    }
    for (const k of this.#loaded.keys()) if (!used.has(k)) this.#loaded.delete(k);
    this.#exact = exact;
    this.#wildcard = wildcard;
    return problems;
  }

  #load(key: string, secret: SecretObject): Loaded {
    const version = secret.metadata.resourceVersion ?? JSON.stringify(secret.data ?? {});
    const had = this.#loaded.get(key);
    if (had?.version === version) return had;
    const pair = keyPairOf(secret);
    let loaded: Loaded;
    if (typeof pair === 'string') loaded = { version, context: undefined, error: pair };
    else {
      try {
        loaded = { version, context: createSecureContext(pair) };
      } catch (err) {
        loaded = { version, context: undefined, error: `tls.crt/tls.key: ${(err as Error).message}` };
      }
    }
    this.#loaded.set(key, loaded);
    return loaded;
  }

  /** the context of an SNI name: its exact host, else a `*.` entry of its parent, else undefined (the default) */
  lookup(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const hit = this.#exact.get(name);
    if (hit) return hit;
    const dot = name.indexOf('.');
    return dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined;
  }

  /** for `tls.createServer`'s SNICallback */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.lookup(servername) ?? this.#default);
  };
}
