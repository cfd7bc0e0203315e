/**
 * Test scaffolding for the controllers that own an nftables table (proxy/, policy/, nft.ts): an
 * in-memory `Nft` that records every script and can fail the next apply, and a condition poller.
 */
import type { Nft } from '../nft.ts';

export interface RecordingNft extends Nft {
  /** every script applied successfully, in order */
  readonly scripts: string[];
  /** the next apply throws (once) */
  failNext(): void;
}

export function recordingNft(): RecordingNft {
  const scripts: string[] = [];
  let fail = false;
  return {
    scripts,
    failNext: () => void (fail = true),
    async apply(script) {
      if (fail) {
        fail = false;
        throw new Error('nft: simulated failure');
      }
      scripts.push(script);
    },
  };
}

/** Polls `cond` every 10 ms until it holds; throws naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
