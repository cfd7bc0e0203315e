import type { DownwardAPIVolumeFile, Pod } from 'kubernetes-types/core/v1.js';
import { HedgeError } from '../../lib/errors.ts';
import type { ProjectedFile } from './types.ts';

/** labels/annotations as the kubelet formats them: sorted `key="value"` lines, values %q-quoted */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify((m ?? {})[k])}`)
    .join('\n');
}

/** The fieldRef paths a downwardAPI volume supports (resourceFieldRef is not here yet). */
export function downwardFieldValue(pod: Pod, fieldPath: string): string {
  const md = pod.metadata ?? {};
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]] ?? '';
  switch (fieldPath) {
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
    default:
      throw new HedgeError('Invalid', `unsupported downwardAPI fieldPath ${JSON.stringify(fieldPath)}`);
  }
}

export function downwardFiles(pod: Pod, items: readonly DownwardAPIVolumeFile[] | undefined, defaultMode?: number): ProjectedFile[] {
  const out: ProjectedFile[] = [];
  for (const it of items ?? []) {
    if (!it.fieldRef) continue; // resourceFieldRef: not supported yet (skipped, not faked)
    out.push({ path: it.path, data: Buffer.from(downwardFieldValue(pod, it.fieldRef.fieldPath), 'utf8'), mode: it.mode ?? defaultMode ?? 0o644 });
  }
  return out;
}
