import { createHash } from 'node:crypto';

/**
 * upstream's shuffle sharding dealer (k8s.io/apiserver/pkg/util/shufflesharding): a flow's hash
 * deals it a hand of `handSize` distinct queues out of `deckSize`, so two flows rarely share all
 * of their queues and one heavy flow cannot fill every queue.
 */
export class Dealer {
  readonly deckSize: number;
  readonly handSize: number;

  constructor(deckSize: number, handSize: number) {
    if (!Number.isInteger(deckSize) || deckSize <= 0) throw new RangeError(`deckSize ${deckSize} must be a positive integer`);
    if (!Number.isInteger(handSize) || handSize <= 0 || handSize > deckSize) throw new RangeError(`handSize ${handSize} must be a positive integer no larger than deckSize ${deckSize}`);
    this.deckSize = deckSize;
    this.handSize = handSize;
  }

  /** the hand of `hash` (a 64-bit value), in upstream's order: mixed-radix digits made distinct */
  deal(hash: bigint): number[] {
    const remainders: number[] = [];
    let h = BigInt.asUintN(64, hash);
    for (let i = 0; i < this.handSize; i++) {
      const radix = BigInt(this.deckSize - i);
      remainders.push(Number(h % radix));
      h /= radix;
    }
    const hand: number[] = [];
    for (let i = 0; i < this.handSize; i++) {
      let card = remainders[i]!;
      for (let j = i; j > 0; j--) if (card >= remainders[j - 1]!) card++;
      hand.push(card);
    }
    return hand;
  }
}

/** recent flows' hashes: every request of a level with queues is hashed (a sha256 costs ~10 µs) */
const recentHashes = new Map<string, bigint>();
const RECENT_HASHES = 4096;

/** a flow's 64-bit hash: the FlowSchema's name and the distinguisher (upstream hashes the pair the same way) */
export function hashFlow(flowSchema: string, distinguisher: string): bigint {
  const key = `${flowSchema}\0${distinguisher}`;
  let h = recentHashes.get(key);
  if (h === undefined) {
    h = createHash('sha256').update(flowSchema).update('\0').update(distinguisher).digest().readBigUInt64BE(0);
    if (recentHashes.size >= RECENT_HASHES) recentHashes.clear();
    recentHashes.set(key, h);
  }
  return h;
}
