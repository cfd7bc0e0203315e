import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../lib/log.ts';
import { DebouncedTableSync, type SyncSource } from './nft.ts';
import { recordingNft, until } from './testing/recording-nft.ts';

/** a source whose first list completes when the test says so */
function source(): SyncSource & { listed(): void; running: boolean } {
  let listed!: () => void;
  const synced = new Promise<void>((r) => (listed = r));
  const s = {
    running: false,
    listed: () => listed(),
    async run(signal: AbortSignal) {
      s.running = true;
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      s.running = false;
    },
    waitForSync: () => synced,
  };
  return s;
}

test('DebouncedTableSync: waits for every source, batches a burst into one sync, retries a failure, removes the table at the end', async () => {
  const nft = recordingNft();
  const [a, b] = [source(), source()];
  let version = 0;
  let failures = 0;
  const loop: DebouncedTableSync = new DebouncedTableSync({
    what: 'test table',
    logger: silentLogger(),
    sources: [a, b],
    debounceMs: 30,
    sync: async (signal) => {
      loop.markClean();
      await nft.apply(`v${version}`, signal);
    },
    removeTable: () => nft.apply('delete'),
    onFailure: () => void failures++,
  });
  const ac = new AbortController();
  const running = loop.run(ac.signal);
  await until('both sources running', () => a.running && b.running);
  a.listed();
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(nft.scripts, [], 'no sync before every source has listed');
  b.listed();
  await until('the first sync', () => nft.scripts.length === 1);
  assert.equal(loop.dirty, false);

  // a burst inside the debounce window is one sync of the latest state
  for (let i = 1; i <= 5; i++) {
    version = i;
    loop.markDirty();
  }
  await until('the burst applied', () => nft.scripts.at(-1) === 'v5');
  assert.deepEqual(nft.scripts, ['v0', 'v5']);

  // a failed sync leaves it dirty and is retried (after the first backoff step)
  nft.failNext();
  version = 6;
  loop.markDirty();
  await until('the retry', () => nft.scripts.at(-1) === 'v6');
  assert.equal(failures, 1);

  ac.abort();
  await running;
  assert.equal(nft.scripts.at(-1), 'delete');
  assert.equal(a.running || b.running, false, 'sources stopped with the loop');
});
