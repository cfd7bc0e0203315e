import type { Pod } from 'kubernetes-types/core/v1.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../../api/object.ts';
import { FakeClock } from '../../../client/clock.ts';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import { silentLogger } from '../../../lib/log.ts';
import type { RuntimeHandler } from '../../runtime/types.ts';
import { FakeMounter } from '../../volumes/mounter.ts';
import { defaultPodSyncConfig, type PodSyncConfig } from '../config.ts';
import { MemoryEventSink } from '../../../client/event-recorder.ts';
import { PodSync } from '../pod-sync.ts';
import type { PodAdmitHandler, PodSyncDeps } from '../types.ts';
import { FakeImageStore } from '../../image/testing/fake-image-store.ts';
import { FakeNetwork } from '../../network/testing/fake-network.ts';
import { FakeSnapshotter } from '../../snapshot/testing/fake-snapshotter.ts';
import { FakeRuntime, type FakeRuntimeOptions } from '../../runtime/testing/fake-runtime.ts';

export const NODE = 'edge-1';

/** Waits on a condition by yielding to the event loop (fs and promise work proceeds); never sleeps. */
export async function eventually(cond: () => boolean | Promise<boolean>, what = 'condition', limitMs = 5000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Everything a pod-sync test needs, in memory, with a temp data dir. */
export class Harness {
  readonly client = new FakeKubeClient();
  readonly clock = new FakeClock();
  readonly runtime: FakeRuntime;
  readonly network = new FakeNetwork();
  readonly images = new FakeImageStore();
  readonly snapshotter = new FakeSnapshotter();
  readonly mounter = new FakeMounter();
  readonly events = new MemoryEventSink();
  readonly runtimes = new Map<string, RuntimeHandler>();
  cfg!: PodSyncConfig;
  dataDir = '';
  private ac?: AbortController;
  private running?: Promise<void>;
  sync?: PodSync;
  /** the admit handlers PodSync is given (PodSyncDeps.admitHandlers) */
  admitHandlers?: PodAdmitHandler[];

  constructor(o: { runtime?: Omit<FakeRuntimeOptions, 'now'> } = {}) {
    this.runtime = new FakeRuntime({ ...o.runtime, now: () => this.clock.now() });
    this.runtimes.set('runc', this.runtime);
    this.images.addRemote('busybox:1', { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'sleep 1000'], Env: ['PATH=/bin'] });
  }

  async init(over: Partial<PodSyncConfig> = {}): Promise<this> {
    this.dataDir = await mkdtemp(join(tmpdir(), 'hedge-podsync-'));
    const resolv = join(this.dataDir, 'host-resolv.conf');
    await writeFile(resolv, 'nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\n');
    this.cfg = { ...defaultPodSyncConfig(NODE, this.dataDir), hostIP: '192.0.2.10', hostResolvConf: resolv, netnsDir: join(this.dataDir, 'netns'), ...over };
    await this.client.create(Resources.namespaces, { metadata: { name: 'default' } });
    return this;
  }

  deps(): PodSyncDeps {
    return {
      client: this.client,
      runtimes: this.runtimes,
      network: this.network,
      images: this.images,
      snapshotter: this.snapshotter,
      mounter: this.mounter,
      logger: silentLogger(),
      clock: this.clock,
      events: this.events,
      nodeAllocatable: { cpuMilli: 2000, memoryBytes: 4 << 30 },
      ...(this.admitHandlers ? { admitHandlers: this.admitHandlers } : {}),
    };
  }

  start(): PodSync {
    this.ac = new AbortController();
    this.sync = new PodSync(this.deps(), this.cfg);
    this.running = this.sync.run(this.ac.signal);
    return this.sync;
  }

  async stop(): Promise<void> {
    this.ac?.abort();
    await this.running;
    this.running = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  async createPod(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): Promise<Pod> {
    const obj: KubeObject = { metadata: { name, namespace: 'default', ...meta }, spec: { nodeName: NODE, ...spec } };
    return (await this.client.create(Resources.pods, obj)) as unknown as Pod;
  }

  async pod(name: string): Promise<Pod | undefined> {
    try {
      return (await this.client.get(Resources.pods, name, { namespace: 'default' })) as unknown as Pod;
    } catch {
      return undefined;
    }
  }

  /** advances the fake clock by one resync period and lets the workers run */
  async tick(ms = this.cfg.resyncMs): Promise<void> {
    await this.settle();
    this.clock.advance(ms);
    await new Promise((r) => setImmediate(r));
    await this.settle();
  }

  /** waits until every pod worker is parked on the clock */
  async settle(): Promise<void> {
    await eventually(() => this.sync?.idle() ?? true, 'pod workers idle');
  }

  /** ticks the clock until `cond` holds on the stored pod */
  async until(name: string, cond: (p: Pod) => boolean, what: string, maxTicks = 50): Promise<Pod> {
    for (let i = 0; i < maxTicks; i++) {
      const p = await this.pod(name);
      if (p && cond(p)) return p;
      await this.tick();
    }
    const p = await this.pod(name);
    throw new Error(`timed out waiting for ${what}; pod status: ${JSON.stringify(p?.status)}`);
  }
}
