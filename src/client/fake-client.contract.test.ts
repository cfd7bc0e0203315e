/** FakeKubeClient passes the same KubeClient contract as HttpKubeClient against a real hedge apiserver. */
import { runKubeClientContract } from './contract.ts';
import { FakeKubeClient } from './fake-client.ts';

runKubeClientContract('FakeKubeClient', async () => {
  const client = new FakeKubeClient();
  return { client, compact: async () => client.compact(),
    bookmark: async () => client.sendBookmarks(), cleanup: async () => {} };
});
