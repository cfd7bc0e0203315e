import type { KeyToPath } from 'kubernetes-types/core/v1.js';
import { HedgeError } from '../../lib/errors.ts';
import type { ProjectedFile } from './types.ts';

/**
 * configMap/secret key→file selection: all keys by default, or only `items` (a missing item
 * key is an error unless the source is optional). Mode: item.mode ?? defaultMode ?? 0644.
 */
export function projectKeys(opts: {
  kind: 'configmap' | 'secret';
  name: string;
  data: Map<string, Buffer>;
  items?: readonly KeyToPath[];
  defaultMode?: number;
  optional: boolean;
}): ProjectedFile[] {
  const mode = opts.defaultMode ?? 0o644;
  if (!opts.items?.length) {
    return [...opts.data].map(([k, v]) => ({ path: k, data: v, mode }));
  }
  const out: ProjectedFile[] = [];
  for (const it of opts.items) {
    const v = opts.data.get(it.key);
    if (!v) {
      if (opts.optional) continue;
      throw new HedgeError('NotFound', `configure ${opts.kind} volume: ${opts.kind} "${opts.name}" has no key "${it.key}"`);
    }
    out.push({ path: it.path, data: v, mode: it.mode ?? mode });
  }
  return out;
}

export function configMapData(cm: { data?: Record<string, string>; binaryData?: Record<string, string> }): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) m.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) m.set(k, Buffer.from(v, 'base64'));
  return m;
}

export function secretData(s: { data?: Record<string, string>; stringData?: Record<string, string> }): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) m.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(s.stringData ?? {})) m.set(k, Buffer.from(v, 'utf8'));
  return m;
}
