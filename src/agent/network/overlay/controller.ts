/**
 * Programs the node's overlay from the Node objects it sees: publishes its own backend on its
 * Node (annotations, api/annotations/overlay.ts), watches every Node through its client (the
 * edgehub when there is one) and re-syncs the kernel on each change and every `resyncMs`.
 *
 * While the cloud is unreachable nothing is removed: the informer keeps its cache (and the hub
 * serves its own), so the last programmed routes stay; before the first list ever succeeds
 * the kernel is not touched at all, so a restart while offline keeps the previous state too.
 */
import type { Node } from 'kubernetes-types/core/v1.js';
import { formatOverlayAnnotations, OVERLAY_PUBLIC_IPV6_ANNOTATION, parseOverlayAnnotations, type OverlayBackend } from '../../../api/annotations/overlay.ts';
import type { KubeObject } from '../../../api/object.ts';
import { Backoff } from '../../../client/backoff.ts';
import { systemClock, type Clock } from '../../../client/clock.ts';
import { Resources } from '../../../client/resources.ts';
import { SharedInformerFactory } from '../../../client/shared-informers.ts';
import type { KubeClient } from '../../../client/types.ts';
import { familyOf } from '../../../lib/cidr.ts';
import type { Logger } from '../../../lib/log.ts';
import type { Overlay } from './overlay.ts';
import type { OverlayPeer } from './types.ts';

type NodeObject = Node & KubeObject;

export interface OverlayControllerOptions {
  client: KubeClient;
  overlay: Overlay;
  logger: Logger;
  /** full re-sync (repairs entries changed behind our back); default 60 s */
  resyncMs?: number;
  /** the node's shared informers; its own otherwise */
  informers?: SharedInformerFactory;
  clock?: Clock;
}

export interface OverlayController {
  /** resolves once the device is set up and a first sync from a listed Node set is done */
  ready: Promise<void>;
  /** settles when the signal aborts and the loops have stopped */
  done: Promise<void>;
}

/** The peer a Node describes for `mode` (with its IPv6 podCIDR when dual-stack), or undefined (no podCIDR yet, no or another backend). */
export function peerFromNode(node: NodeObject, mode: OverlayBackend['type']): OverlayPeer | undefined {
  const podCIDR = node.spec?.podCIDR;
  const b = parseOverlayAnnotations(node.metadata.annotations);
  if (!podCIDR || !b || b.type !== mode || node.metadata.deletionTimestamp) return undefined;
  const podCIDRv6 = node.spec?.podCIDRs?.find((c) => familyOf(c) === 6);
  return { name: node.metadata.name ?? '', podCIDR, ...(podCIDRv6 ? { podCIDRv6 } : {}), publicIP: b.publicIP, ...(b.publicIPv6 ? { publicIPv6: b.publicIPv6 } : {}), vtepMAC: b.vtepMAC };
}

export function startOverlayController(opts: OverlayControllerOptions, signal: AbortSignal): OverlayController {
  const { client, overlay } = opts;
  const clock = opts.clock ?? systemClock;
  const log = opts.logger.child({ component: 'overlay' });
  const nodeName = overlay.cfg.nodeName;
  let kick: (() => void) | undefined;
  let dirty = true;
  const wake = (): void => {
    dirty = true;
    kick?.();
  };
  const informers = opts.informers ?? new SharedInformerFactory({ client, logger: log, clock });
  const informer = informers.informer<NodeObject>({
    resource: Resources.nodes,
    onAdd: wake,
    onUpdate: wake,
    onDelete: wake,
  });
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));

  const loop = async (): Promise<void> => {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    let published: string | undefined;
    let backend: OverlayBackend | undefined;
    while (!signal.aborted) {
      let failed = false;
      try {
        backend ??= await overlay.setUp(signal);
        if (informer.hasSynced() && dirty) {
          dirty = false;
          const mode = backend.type;
          await overlay.sync(informer.list().map((n) => peerFromNode(n, mode)).filter((p): p is OverlayPeer => p !== undefined), signal);
          markReady();
        }
        // after the sync: publishing needs the cloud (or the hub's journal), programming does not
        const annotations = formatOverlayAnnotations(backend);
        const want = JSON.stringify(annotations);
        const own = informer.get(nodeName);
        // an IPv6 next hop published before (the underlay lost its address, the node is no longer dual-stack) is withdrawn
        const stale6 = annotations[OVERLAY_PUBLIC_IPV6_ANNOTATION] === undefined && own?.metadata.annotations?.[OVERLAY_PUBLIC_IPV6_ANNOTATION] !== undefined;
        const onNode = own !== undefined && !stale6 && Object.entries(annotations).every(([k, v]) => own.metadata.annotations?.[k] === v);
        if (published !== want && !onNode) {
          const patch = stale6 ? { ...annotations, [OVERLAY_PUBLIC_IPV6_ANNOTATION]: null } : annotations;
          await client.patch(Resources.nodes, nodeName, 'merge', { metadata: { annotations: patch } }, { signal });
          published = want;
          log.info({ backend }, 'overlay backend published on the Node');
        }
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        failed = true;
        dirty = true;
        log.warn({ err }, 'overlay sync failed; retrying');
      }
      // wait for a change, the resync period, or (after a failure) the back-off
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          dirty = true;
          resolve();
        }, failed ? backoff.next() : (opts.resyncMs ?? 60_000));
        const stop = (): void => {
          clearTimeout(t);
          kick = undefined;
          signal.removeEventListener('abort', stop);
          resolve();
        };
        kick = stop;
        signal.addEventListener('abort', stop, { once: true });
        if (dirty && !failed && informer.hasSynced()) stop();
      });
    }
  };

  const done = Promise.all([informer.run(signal), loop()]).then(() => undefined);
  return { ready, done };
}
