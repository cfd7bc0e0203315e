import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { Resources } from '../../client/resources.ts';
import { SharedInformerFactory } from '../../client/shared-informers.ts';
import { createLogger, silentLogger } from '../../lib/log.ts';
import { PodSync } from '../podsync/pod-sync.ts';
import { eventually, Harness, NODE } from '../podsync/testing/harness.ts';
import { Labels } from '../podsync/labels.ts';
import { parseStaticPod } from './manifest.ts';
import { MirrorPods } from './mirror-pods.ts';

const staticPod = (image = 'busybox:1'): Pod => {
  const r = parseStaticPod({
    text: `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: ${image}\n`,
    file: '/manifests/web.yaml',
    nodeName: NODE,
    seenAt: '2026-01-01T00:00:00.000000Z',
  });
  assert.ok(r.ok);
  return r.pod;
};

/** PodSync with a static pod source and MirrorPods over the fake API, as startAgent wires them */
class StaticHarness {
  readonly h = new Harness();
  informers!: SharedInformerFactory;
  sync!: PodSync;
  mirrors!: MirrorPods;
  private ac = new AbortController();
  private loops: Promise<void>[] = [];
  nodeUid: string | undefined;

  async init(): Promise<this> {
    await this.h.init();
    return this;
  }

  /** a fresh agent over the same runtime and data dir (a restart) */
  make(): void {
    this.ac = new AbortController();
    this.informers = new SharedInformerFactory({ client: this.h.client, logger: silentLogger(), clock: this.h.clock });
    this.sync = new PodSync({ ...this.h.deps(), informers: this.informers }, this.h.cfg);
    this.h.sync = this.sync;
    this.mirrors = new MirrorPods({
      client: this.h.client,
      nodeName: NODE,
      nodeUid: () => this.nodeUid,
      informers: this.informers,
      logger: process.env.DEBUG_MIRROR ? createLogger({ level: 'debug' }) : silentLogger(),
      onCreated: (uid) => this.sync.worker(uid)?.resendStatus(),
      resyncMs: 20,
    });
  }

  async setStatic(pods: Pod[]): Promise<void> {
    this.mirrors.setStatic(pods);
    await this.sync.setStaticPods(pods, this.ac.signal, (p) => this.mirrors.mirrorOf(p) !== undefined);
  }

  /** the API side: pod sync's watch and the mirrors */
  runApi(): void {
    this.loops.push(this.sync.run(this.ac.signal), this.mirrors.run(this.ac.signal));
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await Promise.all(this.loops);
    this.loops = [];
    await this.informers.shutdown();
  }

  mirror(): Promise<KubeObject | undefined> {
    return this.h.client.get(Resources.pods, `web-${NODE}`, { namespace: 'default' }).catch(() => undefined);
  }

  /** ticks the fake clock until the mirror satisfies `cond` */
  async untilMirror(cond: (m: KubeObject) => boolean, what: string): Promise<KubeObject> {
    // MirrorPods retries on real timers, the workers on the fake clock: bounded by both
    const deadline = Date.now() + 5_000;
    for (let i = 0; i < 100 || Date.now() < deadline; i++) {
      const m = await this.mirror();
      if (m && cond(m)) return m;
      await this.h.tick();
    }
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await this.mirror())}`);
  }
}

const phase = (m: KubeObject): string | undefined => (m.status as { phase?: string } | undefined)?.phase;

describe('static pods in PodSync with their mirror pods', () => {
  let t: StaticHarness;
  afterEach(async () => {
    await t.stop().catch(() => undefined);
    await t.h.close();
  });

  it('runs a static pod before (and without) the API; its mirror comes once the node is known, with its status', async () => {
    t = await new StaticHarness().init();
    t.make();
    const pod = staticPod();
    await t.setStatic([pod]);
    // no API watch yet: the static pod runs from the file alone
    await eventually(() => t.h.runtime.byName('main')?.status.state === 'running', 'the static pod container running');
    const running = t.h.runtime.byName('main')!;
    assert.equal(running.cfg.labels[Labels.podUid], pod.metadata?.uid);
    assert.equal(await t.mirror(), undefined);

    // the node is not registered yet: no mirror
    t.runApi();
    await t.h.tick();
    assert.equal(await t.mirror(), undefined, 'no mirror without the Node UID for its owner reference');
    const node: KubeObject = await t.h.client.create<KubeObject>(Resources.nodes, { metadata: { name: NODE } });
    t.nodeUid = node.metadata.uid;
    const m = await t.untilMirror((x) => phase(x) === 'Running', 'a Running mirror');
    assert.notEqual(m.metadata.uid, pod.metadata?.uid, 'the mirror is an API object of its own');
    assert.equal(m.metadata.annotations?.['kubernetes.io/config.mirror'], pod.metadata?.uid);
    assert.equal(m.metadata.annotations?.['kubernetes.io/config.source'], 'file');
    assert.deepEqual(m.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: node.metadata.uid, controller: true }]);
    assert.equal((m.spec as { nodeName?: string }).nodeName, NODE);

    // kubectl delete of the mirror (graceful: a deletionTimestamp) re-creates it; the pod never stops
    await t.h.client.delete(Resources.pods, `web-${NODE}`, { namespace: 'default' });
    const again = await t.untilMirror((x) => x.metadata.uid !== m.metadata.uid && !x.metadata.deletionTimestamp && phase(x) === 'Running', 'the mirror re-created with status');
    assert.ok(again);
    assert.equal(t.h.runtime.byName('main')?.id, running.id, 'the same container');
    assert.equal(t.h.runtime.byName('main')?.status.state, 'running');

    // the file is edited: a new pod (UID) replaces the old, the mirror follows the new hash
    const edited = staticPod('busybox:1\n    command: ["sleep", "99"]');
    await t.setStatic([edited]);
    await t.untilMirror((x) => x.metadata.annotations?.['kubernetes.io/config.mirror'] === edited.metadata?.uid && phase(x) === 'Running', 'the mirror of the edited pod');
    await eventually(() => t.h.runtime.byName('main')?.id !== running.id && t.h.runtime.byName('main')?.status.state === 'running', 'the new container');
    assert.equal(t.h.runtime.containers.has(running.id), false, 'the old pod was stopped and removed');

    // the file is removed: the pod stops, the mirror goes, and nothing else is deleted
    await t.setStatic([]);
    for (let i = 0; i < 50 && (t.h.runtime.containers.size > 0 || (await t.mirror())); i++) await t.h.tick();
    assert.equal(t.h.runtime.containers.size, 0);
    assert.equal(await t.mirror(), undefined);
  });

  it('a restarted agent adopts the static pod it ran (no restart), and the API sweep leaves it alone', async () => {
    t = await new StaticHarness().init();
    const node: KubeObject = await t.h.client.create<KubeObject>(Resources.nodes, { metadata: { name: NODE } });
    t.nodeUid = node.metadata.uid;
    t.make();
    const pod = staticPod();
    await t.setStatic([pod]);
    t.runApi();
    await t.untilMirror((x) => phase(x) === 'Running', 'a Running mirror');
    const before = t.h.runtime.byName('main')!;
    await t.stop();

    // restart: the static pods are read first, then the API's pods are listed and swept
    t.make();
    await t.setStatic([pod]);
    t.runApi();
    await t.h.tick();
    await t.h.tick();
    assert.equal(t.h.runtime.byName('main')?.id, before.id, 'adopted, not restarted');
    assert.equal(t.h.runtime.byName('main')?.status.state, 'running');
    assert.equal([...t.h.runtime.containers.keys()].length, 1);
    // a mirror pod in the API is never run as a pod of its own
    assert.equal(t.sync.pods().length, 1);
  });
});
