/**
 * The downward API's fieldRef paths on a Pod, for container env and downwardAPI volumes alike.
 * Env also takes spec.* and status.* paths; a volume only metadata.* (as upstream: its files are
 * written before the pod has IPs, and refreshed only for labels and annotations).
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { HedgeError } from '../../lib/errors.ts';

/** where the fieldRef is resolved: `env` has the pod's addresses, a `volume` only its metadata */
export type FieldRefScope = { kind: 'env'; podIP?: string; hostIP?: string } | { kind: 'volume' };

/** labels/annotations as the kubelet formats them: sorted `key="value"` lines, values %q-quoted */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify((m ?? {})[k])}`)
    .join('\n');
}

export function podFieldRefValue(pod: Pod, path: string, scope: FieldRefScope): string {
  const md = pod.metadata ?? {};
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]] ?? '';
  switch (path) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
  }
  if (scope.kind === 'volume') throw new HedgeError('Invalid', `unsupported downwardAPI fieldPath ${JSON.stringify(path)}`);
  switch (path) {
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return scope.podIP ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return scope.hostIP ?? '';
    default:
      throw new HedgeError('Invalid', `unsupported fieldRef fieldPath ${JSON.stringify(path)}`);
  }
}
