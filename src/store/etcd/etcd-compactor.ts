import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log.ts';

/** The key every apiserver on one etcd uses to agree on compaction (upstream's name). */
export const COMPACT_REV_KEY = 'compact_rev_key';

export interface CompactorState {
  /** version of COMPACT_REV_KEY this member last saw (upstream's "compact time") */
  time: number;
  /** etcd revision seen at the previous tick: what the next tick compacts to */
  revision: number;
}

/**
 * One step of kube-apiserver's etcd compactor (storage/etcd3/compact.go): atomically record the
 * current revision under COMPACT_REV_KEY if nobody else did since our last tick, and compact to the
 * revision recorded one interval ago. Several apiservers on one etcd then compact once per interval
 * between them, and history of at least one interval is always kept.
 */
export async function compactStep(client: Etcd3, state: CompactorState): Promise<CompactorState> {
  const res = await client
    .if(COMPACT_REV_KEY, 'Version', '==', state.time)
    .then(client.put(COMPACT_REV_KEY).value(String(state.revision)))
    .else(client.get(COMPACT_REV_KEY))
    .commit();
  const current = Number(res.header.revision);
  if (!res.succeeded) {
    // another apiserver compacted in this interval: adopt its clock and skip
    const kv = res.responses[0]?.response_range?.kvs[0];
    return { time: kv === undefined ? 0 : Number(kv.version), revision: current };
  }
  if (state.revision > 0) {
    try {
      await client.kv.compact({ revision: state.revision, physical: false });
    } catch (err) {
      // compacted already (by hand or by etcd's own --auto-compaction): the goal holds
      if (!/compacted/.test((err as Error).message)) throw err;
    }
  }
  return { time: state.time + 1, revision: current };
}

/** Runs compactStep every `intervalMs` until stopped; failures are logged and retried next tick. */
export function startCompactor(client: Etcd3, intervalMs: number, logger: Logger): { stop(): void } {
  let state: CompactorState = { time: 0, revision: 0 };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    compactStep(client, state)
      .then((next) => {
        if (next.revision !== state.revision && state.revision > 0) logger.debug({ compactedTo: state.revision }, 'etcd compacted');
        state = next;
      })
      .catch((err: unknown) => logger.warn({ err }, 'etcd compaction failed; retrying next interval'))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
