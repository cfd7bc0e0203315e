import { randomInt } from 'node:crypto';
import type { Container, EnvFromSource, EnvVar, Pod, PodSpec, ServiceAccount, Volume } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { DEFAULT_SERVICE_ACCOUNT, isMirrorPod, ROOT_CA_CONFIGMAP, SERVICE_ACCOUNT_MOUNT_PATH } from '../../api/service-account.ts';
import type { FieldCause } from '../../lib/errors.ts';
import { sleep } from '../../lib/sleep.ts';
import { podReferences } from '../auth/node-graph.ts';
import { admissionForbidden } from './forbidden.ts';
import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

/** upstream's: an hour and seven seconds, so a token's age shows it was mounted this way */
const TOKEN_EXPIRATION_SECONDS = 3607;
/** utilrand.String's alphabet: no vowels, no look-alikes */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const VOLUME_PREFIX = 'kube-api-access-';
/** a ServiceAccount annotated "true" lets its pods use only the Secrets it lists (upstream's EnforceMountableSecretsAnnotation) */
const ENFORCE_MOUNTABLE_SECRETS_ANNOTATION = 'kubernetes.io/enforce-mountable-secrets';

export interface ServiceAccountAdmissionOptions {
  /**
   * The account as the apiserver has it: its cache first, then the store (upstream: the informer's
   * lister, then a live GET), so an account created a moment ago is found.
   */
  getServiceAccount(namespace: string, name: string): Promise<KubeObject | undefined>;
  /**
   * How often, and how far apart, the `default` account is looked for again before the pod is
   * refused: it is created right after its namespace, so a pod made at once may come first.
   * Upstream's: 10 lookups 100–200 ms apart.
   */
  defaultAccountRetry?: { attempts: number; intervalMs: () => number };
}

const UPSTREAM_RETRY = { attempts: 10, intervalMs: () => 100 + randomInt(100) };

/** upstream's TokenVolumeSource: the token, the cluster's root CA and the pod's namespace, 0644 */
function serviceAccountVolume(name: string): Volume {
  return {
    name,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: TOKEN_EXPIRATION_SECONDS, path: 'token' } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

/** the pod's preference wins, then the account's; mounted unless one says false */
const shouldAutomount = (spec: PodSpec, sa: ServiceAccount): boolean => spec.automountServiceAccountToken ?? sa.automountServiceAccountToken ?? true;

/** strconv.ParseBool's true spellings */
const enforcesMountableSecrets = (sa: ServiceAccount): boolean => ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(sa.metadata?.annotations?.[ENFORCE_MOUNTABLE_SECRETS_ANNOTATION] ?? '');

/**
 * Mounts a `kube-api-access-xxxxx` volume at the service account path in every init and app
 * container that has nothing mounted there; a pod that has such a volume already (a copy of
 * another pod) keeps it. Ephemeral containers are left as they are, as upstream: they cannot
 * exist at create, and a `kubectl debug` container that wants the token names the pod's volume
 * in its own volumeMounts.
 */
function mountToken(spec: PodSpec): void {
  const containers: Container[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const needing = containers.filter((c) => !(c.volumeMounts ?? []).some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH));
  if (needing.length === 0) return;
  const existing = (spec.volumes ?? []).find((v) => v.name.startsWith(VOLUME_PREFIX));
  let name = existing?.name;
  if (!name) {
    const taken = new Set((spec.volumes ?? []).map((v) => v.name));
    do name = `${VOLUME_PREFIX}${Array.from({ length: 5 }, () => SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)]).join('')}`;
    while (taken.has(name));
    spec.volumes = [...(spec.volumes ?? []), serviceAccountVolume(name)];
  }
  for (const c of needing) c.volumeMounts = [...(c.volumeMounts ?? []), { name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH }];
}

const forbiddenAt = (field: string, message: string): FieldCause => ({ field, reason: 'FieldValueForbidden', message });

/** a container's env and envFrom naming a Secret the account does not list (upstream's messages) */
function containerSecretRefusal(kind: string, c: { name: string; env?: EnvVar[]; envFrom?: EnvFromSource[] }, path: string, saName: string, allowed: Set<string>): FieldCause | undefined {
  for (const [i, e] of (c.env ?? []).entries()) {
    const s = e.valueFrom?.secretKeyRef?.name;
    if (s !== undefined && !allowed.has(s)) {
      const msg = `${kind} ${c.name} with envVar ${e.name} referencing secret.secretName="${s}" is not allowed because service account ${saName} does not reference that secret`;
      return forbiddenAt(`${path}.env[${i}].valueFrom.secretKeyRef.name`, msg);
    }
  }
  for (const [i, e] of (c.envFrom ?? []).entries()) {
    const s = e.secretRef?.name;
    if (s !== undefined && !allowed.has(s)) {
      const msg = `${kind} ${c.name} with envFrom referencing secret.secretName="${s}" is not allowed because service account ${saName} does not reference that secret`;
      return forbiddenAt(`${path}.envFrom[${i}].secretRef.name`, msg);
    }
  }
  return undefined;
}

/** upstream's limitSecretReferences: secret volumes, env and envFrom, imagePullSecrets */
function secretRefusal(spec: PodSpec, sa: ServiceAccount): FieldCause | undefined {
  const saName = sa.metadata?.name ?? '';
  const mountable = new Set((sa.secrets ?? []).map((s) => s.name ?? ''));
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    const s = v.secret?.secretName;
    if (s !== undefined && !mountable.has(s)) {
      const msg = `volume with secret.secretName="${s}" is not allowed because service account ${saName} does not reference that secret`;
      return forbiddenAt(`spec.volumes[${i}].secret.secretName`, msg);
    }
  }
  for (const [kind, list, path] of [['init container', spec.initContainers, 'spec.initContainers'], ['container', spec.containers, 'spec.containers']] as const) {
    for (const [i, c] of (list ?? []).entries()) {
      const refusal = containerSecretRefusal(kind, c, `${path}[${i}]`, saName, mountable);
      if (refusal) return refusal;
    }
  }
  const pullable = new Set((sa.imagePullSecrets ?? []).map((s) => s.name ?? ''));
  for (const [i, ref] of (spec.imagePullSecrets ?? []).entries()) {
    if (!pullable.has(ref.name ?? '')) {
      const msg = `imagePullSecrets[${i}].name="${ref.name ?? ''}" is not allowed because service account ${saName} does not reference that imagePullSecret`;
      return forbiddenAt(`spec.imagePullSecrets[${i}].name`, msg);
    }
  }
  return undefined;
}

/** upstream's check of a static pod's mirror: the node made it from a file, it may use no account and no Secret */
function mirrorPodRefusal(pod: Pod): FieldCause | undefined {
  const spec = pod.spec ?? { containers: [] };
  if (spec.serviceAccountName) {
    return forbiddenAt('spec.serviceAccountName', 'a mirror pod may not reference service accounts');
  }
  if (podReferences(pod).some((r) => r.resource === 'secrets')) {
    return forbiddenAt('spec', 'a mirror pod may not reference secrets');
  }
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    if (v.projected?.sources?.some((s) => s.serviceAccountToken)) {
      return forbiddenAt(`spec.volumes[${i}].projected.sources`, 'a mirror pod may not use ServiceAccountToken volume projections');
    }
  }
  return undefined;
}

/**
 * Upstream's ServiceAccount admission plugin.
 *
 * Pod create: a mirror pod (`kubernetes.io/config.mirror`) is left as it is but may name no
 * service account, reference no Secret and project no token. Any other pod runs as
 * `spec.serviceAccountName` (`default` when unset), which must exist, whether or not a token is
 * mounted: else 403 `error looking up service account <ns>/<sa>: serviceaccount "<sa>" not
 * found` (the `default` account is looked for a few times first: it comes just after its
 * namespace). Unless the pod or the account sets `automountServiceAccountToken: false`, a
 * `kube-api-access-xxxxx` projected volume (token, kube-root-ca.crt's ca.crt, the namespace) is
 * mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every init and app
 * container without a mount there. A pod without imagePullSecrets gets the account's. An account
 * annotated `kubernetes.io/enforce-mountable-secrets: "true"` admits only pods whose secret
 * volumes, env, envFrom and imagePullSecrets name Secrets it lists.
 *
 * pods/ephemeralcontainers update: the pod's account must exist, and with the annotation the new
 * containers' env and envFrom are held to its Secrets too. Nothing is mounted into them.
 */
export function serviceAccountPlugin(opts: ServiceAccountAdmissionOptions): AdmissionPlugin {
  const retry = opts.defaultAccountRetry ?? UPSTREAM_RETRY;

  const lookUp = async (req: AdmissionRequest, name: string): Promise<ServiceAccount> => {
    const attempts = name === DEFAULT_SERVICE_ACCOUNT ? Math.max(1, retry.attempts) : 1;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep(retry.intervalMs(), req.signal);
      const sa = await opts.getServiceAccount(req.namespace, name);
      if (sa) return sa as ServiceAccount;
    }
    const msg = `error looking up service account ${req.namespace}/${name}: serviceaccount "${name}" not found`;
    throw admissionForbidden(req, msg, [{ field: 'spec.serviceAccountName', reason: 'FieldValueNotFound', message: `serviceaccount "${name}" not found` }]);
  };

  const noAccount = (req: AdmissionRequest): Error =>
    admissionForbidden(req, `no service account specified for pod ${req.namespace}/${req.name}`, [{ field: 'spec.serviceAccountName', reason: 'FieldValueRequired', message: 'Required value' }]);
  const pods = (req: AdmissionRequest): req is AdmissionRequest & { object: KubeObject } =>
    req.def.group === '' && req.def.plural === 'pods' && req.object !== undefined;
  const creating = (req: AdmissionRequest): boolean => req.operation === 'CREATE' && req.subresource === '';
  const addingEphemeral = (req: AdmissionRequest): boolean => req.operation === 'UPDATE' && req.subresource === 'ephemeralcontainers';

  return {
    name: 'ServiceAccount',
    async mutate(req) {
      if (!pods(req) || !creating(req) || isMirrorPod(req.object)) return;
      const spec = (req.object.spec ?? { containers: [] }) as PodSpec;
      spec.serviceAccountName ||= DEFAULT_SERVICE_ACCOUNT;
      spec.serviceAccount = spec.serviceAccountName;
      const sa = await lookUp(req, spec.serviceAccountName);
      if (shouldAutomount(spec, sa)) mountToken(spec);
      if ((spec.imagePullSecrets ?? []).length === 0 && (sa.imagePullSecrets ?? []).length > 0) {
        spec.imagePullSecrets = (sa.imagePullSecrets ?? []).map((s) => ({ name: s.name }));
      }
      req.object.spec = spec;
    },
    // again after every mutation (a webhook may have named another account or Secret)
    async validate(req) {
      if (!pods(req)) return;
      const pod = req.object as unknown as Pod;
      const spec = pod.spec ?? { containers: [] };
      if (addingEphemeral(req)) {
        if (!spec.serviceAccountName) throw noAccount(req);
        const sa = await lookUp(req, spec.serviceAccountName);
        if (!enforcesMountableSecrets(sa)) return;
        const allowed = new Set((sa.secrets ?? []).map((s) => s.name ?? ''));
        for (const [i, c] of (spec.ephemeralContainers ?? []).entries()) {
          const refusal = containerSecretRefusal('ephemeral container', c, `spec.ephemeralContainers[${i}]`, sa.metadata?.name ?? '', allowed);
          if (refusal) throw admissionForbidden(req, refusal.message, [refusal]);
        }
        return;
      }
      if (!creating(req)) return;
      if (isMirrorPod(req.object)) {
        const refusal = mirrorPodRefusal(pod);
        if (refusal) throw admissionForbidden(req, refusal.message, [refusal]);
        return;
      }
      if (!spec.serviceAccountName) throw noAccount(req);
      const sa = await lookUp(req, spec.serviceAccountName);
      if (!enforcesMountableSecrets(sa)) return;
      const refusal = secretRefusal(spec, sa);
      if (refusal) throw admissionForbidden(req, refusal.message, [refusal]);
    },
  };
}
