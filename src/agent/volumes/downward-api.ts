import type { DownwardAPIVolumeFile, Pod } from 'kubernetes-types/core/v1.js';
import { podFieldRefValue } from '../../api/fields/pod-field-ref.ts';
import type { ProjectedFile } from './types.ts';

export function downwardFiles(pod: Pod, items: readonly DownwardAPIVolumeFile[] | undefined, defaultMode?: number): ProjectedFile[] {
  const out: ProjectedFile[] = [];
  for (const it of items ?? []) {
    if (!it.fieldRef) continue; // resourceFieldRef: not supported yet (skipped, not faked)
    out.push({ path: it.path, data: Buffer.from(podFieldRefValue(pod, it.fieldRef.fieldPath, { kind: 'volume' }), 'utf8'), mode: it.mode ?? defaultMode ?? 0o644 });
  }
  return out;
}
