import type { Pod } from 'kubernetes-types/core/v1.js';
import type { RuntimeHandler } from '../runtime/types.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import { Labels } from './labels.ts';

/**
 * What the image GC must keep: the images of every container any runtime knows, running or
 * exited, adopted after a restart or made before it (the runtimes' own lists, not the API, so it
 * holds while the node is offline), plus the images the pods this node runs name (a container
 * about to be created, or recreated after an exit the runtime already forgot).
 *
 * Per container: its image id and reference labels; and the snapshot its rootfs sits on (the
 * container's snapshot is keyed by its id), which also covers containers made before the labels
 * existed. A runtime whose list fails fails the whole answer: the GC then removes nothing.
 */
export async function imagesInUse(o: { runtimes: Map<string, RuntimeHandler>; snapshotter: Snapshotter; pods: Pod[]; signal: AbortSignal }): Promise<Set<string>> {
  const out = new Set<string>();
  const lists = await Promise.all([...o.runtimes.values()].map((h) => h.list(o.signal)));
  for (const list of lists) {
    for (const c of list) {
      const id = c.labels[Labels.imageId];
      const ref = c.labels[Labels.imageRef];
      if (id) out.add(id);
      if (ref) out.add(ref);
      const parent = (await o.snapshotter.stat(c.id))?.parent;
      if (parent) out.add(parent);
    }
  }
  for (const p of o.pods) {
    for (const c of [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? []), ...(p.spec?.ephemeralContainers ?? [])]) {
      if (c.image) out.add(c.image);
    }
  }
  return out;
}
