import { randomInt } from 'node:crypto';
import type { Container, PodSpec, Volume } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { ROOT_CA_CONFIGMAP, SERVICE_ACCOUNT_MOUNT_PATH } from '../../api/service-account.ts';
import type { AdmissionPlugin } from './types.ts';

/** upstream's: an hour and seven seconds, so a token's age shows it was mounted this way */
const TOKEN_EXPIRATION_SECONDS = 3607;
/** utilrand.String's alphabet: no vowels, no look-alikes */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

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

/**
 * Upstream's ServiceAccount admission plugin, on pod create: unless the pod or its service
 * account sets `automountServiceAccountToken: false`, a `kube-api-access-xxxxx` projected volume
 * (serviceAccountToken, kube-root-ca.crt's ca.crt, the namespace) is added and mounted read-only
 * at /var/run/secrets/kubernetes.io/serviceaccount in every init and app container that has no
 * mount there. Mirror pods are left alone. Unlike upstream, a service account that does not
 * exist (yet) is not a refusal: the pod gets the volume and the node's TokenRequest fails until
 * it exists.
 */
export function serviceAccountPlugin(opts: { getServiceAccount(namespace: string, name: string): Promise<KubeObject | undefined> }): AdmissionPlugin {
  return {
    name: 'ServiceAccount',
    async mutate(req) {
      if (req.operation !== 'CREATE' || req.subresource !== '' || req.def.group !== '' || req.def.plural !== 'pods' || !req.object) return;
      if (req.object.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined) return;
      const spec = (req.object.spec ?? {}) as PodSpec;
      if (spec.automountServiceAccountToken === false) return;
      const sa = await opts.getServiceAccount(req.namespace, spec.serviceAccountName || 'default');
      if (spec.automountServiceAccountToken === undefined && (sa as { automountServiceAccountToken?: boolean } | undefined)?.automountServiceAccountToken === false) return;
      const containers: Container[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
      const needing = containers.filter((c) => !(c.volumeMounts ?? []).some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH));
      if (needing.length === 0) return;
      const taken = new Set((spec.volumes ?? []).map((v) => v.name));
      let name: string;
      do name = `kube-api-access-${Array.from({ length: 5 }, () => SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)]).join('')}`;
      while (taken.has(name));
      spec.volumes = [...(spec.volumes ?? []), serviceAccountVolume(name)];
      for (const c of needing) c.volumeMounts = [...(c.volumeMounts ?? []), { name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH }];
      req.object.spec = spec;
    },
  };
}
