import type { Logger } from '../../lib/log.ts';
import type { MuxSession, MuxStream } from '../../lib/mux/index.ts';

/**
 * The tunnels nodes hold open to this apiserver, by node name. A node has at most one: a new
 * connection replaces the old (a reconnect after a link loss the old one has not noticed yet).
 */
export class NodeTunnels {
  private readonly byNode = new Map<string, MuxSession>();
  private readonly log: Logger;

  constructor(opts: { logger: Logger }) {
    this.log = opts.logger;
  }

  /** register `session` as `nodeName`'s tunnel; the caller has checked it is that node */
  attach(nodeName: string, session: MuxSession): void {
    const old = this.byNode.get(nodeName);
    this.byNode.set(nodeName, session);
    if (old) old.close('replaced by a newer tunnel from the same node');
    this.log.info({ node: nodeName }, 'node tunnel up');
    void session.done.then((reason) => {
      if (this.byNode.get(nodeName) !== session) return;
      this.byNode.delete(nodeName);
      this.log.info({ node: nodeName, reason }, 'node tunnel down');
    });
  }

  has(nodeName: string): boolean {
    return this.byNode.has(nodeName);
  }

  /** a new stream to the node's server, or undefined when the node has no tunnel */
  open(nodeName: string): MuxStream | undefined {
    const s = this.byNode.get(nodeName);
    if (!s || s.closed) return undefined;
    return s.open('node-server');
  }

  close(reason = 'apiserver shutting down'): void {
    for (const s of this.byNode.values()) s.close(reason);
    this.byNode.clear();
  }
}
