import type { KubeObject } from '../../api/object.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient, WatchEvent } from '../../client/types.ts';

export interface LocalInformer {
  /** the informer's view, by pod name */
  objects: Map<string, KubeObject>;
  /** every watch event it received, in order */
  events: WatchEvent[];
  /** lists made (1 = never relisted) */
  relists: number;
  /** errors that ended a list or watch (a 410 included); each is followed by a relist */
  errors: unknown[];
}

/**
 * A client-go-style pod informer for tests: list the node's pods in `default`, watch from the
 * list's resourceVersion, resume from the last one seen when a stream ends. Any error is recorded
 * and counts as a relist. Runs until `signal` aborts.
 */
export function podInformer(client: KubeClient, fieldSelector: string, signal: AbortSignal): LocalInformer {
  const out: LocalInformer = { objects: new Map(), events: [], relists: 0, errors: [] };
  void (async () => {
    let rv = '';
    while (!signal.aborted) {
      try {
        if (rv === '') {
          const list = await client.list(Resources.pods, { namespace: 'default', fieldSelector, signal });
          out.relists++;
          out.objects = new Map(list.items.map((p) => [p.metadata.name ?? '', p]));
          rv = list.metadata.resourceVersion;
        }
        for await (const ev of client.watch(Resources.pods, { namespace: 'default', fieldSelector, resourceVersion: rv, signal })) {
          out.events.push(ev);
          const name = ev.object.metadata.name ?? '';
          if (ev.type === 'DELETED') out.objects.delete(name);
          else if (ev.type !== 'BOOKMARK') out.objects.set(name, ev.object);
          rv = ev.object.metadata.resourceVersion ?? rv;
        }
      } catch (err) {
        if (signal.aborted) return;
        out.errors.push(err);
        rv = '';
      }
    }
  })();
  return out;
}
