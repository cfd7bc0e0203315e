import type { Container, Pod, Secret } from 'kubernetes-types/core/v1.js';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import type { ImageInfo, ImageStore, RegistryCredentials } from '../image/types.ts';

/** upstream defaulting: `:latest` or no tag → Always, otherwise IfNotPresent */
export function pullPolicy(c: Container): 'Always' | 'IfNotPresent' | 'Never' {
  const p = c.imagePullPolicy;
  if (p === 'Always' || p === 'IfNotPresent' || p === 'Never') return p;
  const img = c.image ?? '';
  if (img.includes('@')) return 'IfNotPresent';
  const last = img.split('/').pop() ?? '';
  const tag = last.includes(':') ? last.split(':').pop() : undefined;
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** registries → credentials from the pod's kubernetes.io/dockerconfigjson (and legacy dockercfg) secrets */
export async function pullCredentials(pod: Pod, client: KubeClient, signal: AbortSignal): Promise<Map<string, RegistryCredentials>> {
  const out = new Map<string, RegistryCredentials>();
  for (const ref of pod.spec?.imagePullSecrets ?? []) {
    if (!ref.name) continue;
    let s: Secret;
    try {
      s = (await client.get(Resources.secrets, ref.name, { namespace: pod.metadata?.namespace, signal })) as unknown as Secret;
    } catch (err) {
      if (isHedgeError(err, 'NotFound')) continue; // upstream: warns and pulls anonymously
      throw err;
    }
    const raw = s.data?.['.dockerconfigjson'] ?? s.data?.['.dockercfg'];
    if (!raw) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
    } catch {
      continue;
    }
    const auths = (isRecord(parsed) && isRecord(parsed.auths) ? parsed.auths : parsed) as Record<string, unknown>;
    for (const [reg, v] of Object.entries(isRecord(auths) ? auths : {})) {
      if (!isRecord(v)) continue;
      const cred: RegistryCredentials = {};
      if (typeof v.username === 'string') cred.username = v.username;
      if (typeof v.password === 'string') cred.password = v.password;
      if (typeof v.auth === 'string' && !cred.username) {
        const dec = Buffer.from(v.auth, 'base64').toString('utf8');
        const i = dec.indexOf(':');
        if (i >= 0) {
          cred.username = dec.slice(0, i);
          cred.password = dec.slice(i + 1);
        }
      }
      if (typeof v.identitytoken === 'string') cred.token = v.identitytoken;
      const host = reg.replace(/^https?:\/\//, '').split('/')[0];
      if (!out.has(host)) out.set(host, cred);
    }
  }
  return out;
}

/** resolves the container's image according to its pull policy; HedgeError with the registry's message on failure */
export async function ensureImage(opts: {
  container: Container;
  images: ImageStore;
  credentials: () => Promise<Map<string, RegistryCredentials>>;
  signal: AbortSignal;
  onPulling?: () => void;
  /** runs the pull itself (not the local look-up), e.g. outside a start slot */
  around?: <T>(pull: () => Promise<T>) => Promise<T>;
}): Promise<{ image: ImageInfo; pulled: boolean }> {
  const ref = opts.container.image ?? '';
  const policy = pullPolicy(opts.container);
  if (policy !== 'Always') {
    const have = await opts.images.resolve(ref);
    if (have) return { image: have, pulled: false };
    if (policy === 'Never') {
      throw new HedgeError('NotFound', `Container image "${ref}" is not present with pull policy of Never`, { details: { kind: 'ErrImageNeverPull' } });
    }
  }
  opts.onPulling?.();
  const pull = async (): Promise<ImageInfo> => {
    const creds = await opts.credentials();
    return opts.images.pull(ref, {
      credentials: (registry) => creds.get(registry) ?? (registry === 'docker.io' ? creds.get('index.docker.io') ?? creds.get('registry-1.docker.io') : undefined),
      signal: opts.signal,
    });
  };
  return { image: await (opts.around ? opts.around(pull) : pull()), pulled: true };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
