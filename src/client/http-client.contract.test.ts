/** HttpKubeClient against a real in-process hedge apiserver (MemoryStore, loopback, port 0): the KubeClient contract. */
import { startTestServer, testToken } from '../apiserver/testing/test-server.ts';
import { runKubeClientContract } from './contract.ts';
import { HttpKubeClient } from './http-client.ts';

runKubeClientContract('HttpKubeClient + hedge apiserver', async () => {
  // bookmarks every 200 ms so the bookmark check needs no trigger
  const ts = await startTestServer({ watchBookmarkIntervalMs: 200 });
  return {
    client: new HttpKubeClient({ server: ts.url, token: testToken }),
    compact: async () => ts.store.compact(await ts.store.currentRevision()),
    bookmark: async () => {},
    cleanup: () => ts.close(),
  };
});
