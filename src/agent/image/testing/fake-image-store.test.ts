/** The fake the agent tests use passes the same ImageStore contract as the local store. */
import { FakeSnapshotter } from '../../snapshot/testing/fake-snapshotter.ts';
import { runImageStoreContract } from '../contract.ts';
import { FakeImageStore } from './fake-image-store.ts';

runImageStoreContract('fake', async () => {
  const store = new FakeImageStore();
  const a = { ref: 'registry.test/hedge/httpd:1', cmd: ['httpd', '-f'] };
  const b = { ref: 'registry.test/hedge/busybox:1' };
  store.addRemote(a.ref, { Cmd: a.cmd });
  store.addRemote(b.ref, { Cmd: ['sh'] });
  store.addArchive('/archives/busybox.tar', [{ ref: 'docker.io/hedge/busybox:latest' }]);
  return {
    store,
    snapshotter: new FakeSnapshotter(),
    images: { a, b },
    missingRef: 'registry.test/hedge/httpd:nope',
    importable: { path: '/archives/busybox.tar', refs: ['docker.io/hedge/busybox:latest'] },
    cleanup: async () => {},
  };
});
