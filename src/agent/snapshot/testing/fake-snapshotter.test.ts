/** The fake the agent tests use passes the same Snapshotter contract as the overlay and block-image snapshotters. */
import { runSnapshotterContract } from '../contract.ts';
import { FakeSnapshotter } from './fake-snapshotter.ts';

runSnapshotterContract('fake', async () => ({ snapshotter: new FakeSnapshotter(), noFs: 'the fake tracks keys, not content', cleanup: async () => {} }));
