import type { KubeObject } from '../../api/object.ts';
import { Backoff } from '../../client/backoff.ts';
import type { Clock } from '../../client/clock.ts';
import { formatMicroTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeLeaseOptions {
  client: KubeClient;
  nodeName: string;
  clock: Clock;
  logger: Logger;
  leaseDurationSeconds?: number;
  /** default 10 s (a quarter of the duration, as the kubelet) */
  renewIntervalMs?: number;
  /** the Node's uid, for the ownerReference (resolved lazily: the Node may not exist yet) */
  nodeUid: () => Promise<string | undefined>;
}

interface Lease extends KubeObject {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

/** The kubelet's node heartbeat: `kube-node-lease/<node>` renewed every 10 s; errors back off (200 ms → 7 s). */
export class NodeLease {
  private readonly duration: number;
  private readonly interval: number;
  renewals = 0;

  constructor(private readonly o: NodeLeaseOptions) {
    this.duration = o.leaseDurationSeconds ?? 40;
    this.interval = o.renewIntervalMs ?? 10_000;
  }

  /** create or renew once */
  async renew(signal: AbortSignal): Promise<void> {
    const { client, nodeName, clock } = this.o;
    const renewTime = formatMicroTime(clock.now());
    let lease: Lease;
    try {
      lease = await client.get<Lease>(Resources.leases, nodeName, { namespace: NODE_LEASE_NAMESPACE, signal });
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
      const uid = await this.o.nodeUid();
      await client.create<Lease>(
        Resources.leases,
        {
          metadata: {
            name: nodeName,
            namespace: NODE_LEASE_NAMESPACE,
            ...(uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid }] } : {}),
          },
          spec: { holderIdentity: nodeName, leaseDurationSeconds: this.duration, renewTime },
        },
        { signal },
      );
      this.renewals++;
      return;
    }
    const next: Lease = { ...lease, spec: { ...lease.spec, holderIdentity: nodeName, leaseDurationSeconds: this.duration, renewTime } };
    if (!lease.metadata.ownerReferences?.length) {
      const uid = await this.o.nodeUid();
      if (uid) next.metadata = { ...next.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid }] };
    }
    await client.update<Lease>(Resources.leases, next, { signal });
    this.renewals++;
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 7_000 });
    while (!signal.aborted) {
      let wait = this.interval;
      try {
        await this.renew(signal);
        backoff.reset();
      } catch (err) {
        if (signal.aborted) return;
        wait = backoff.next();
        this.o.logger.warn({ err, delayMs: wait }, 'node lease renewal failed');
      }
      try {
        await this.o.clock.sleep(wait, signal);
      } catch {
        return;
      }
    }
  }
}
