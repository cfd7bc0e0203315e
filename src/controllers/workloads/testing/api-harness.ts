import type { KubeObject } from '../../../api/object.ts';
import { startTestServer, testToken, type TestServer } from '../../../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../../../client/http-client.ts';
import { Resources } from '../../../client/resources.ts';
import type { KubeClient } from '../../../client/types.ts';
import { isHedgeError } from '../../../lib/errors.ts';
import { silentLogger } from '../../../lib/log.ts';
import type { PodObject } from '../../common/types.ts';
import { WorkloadControllers } from '../manager.ts';

/**
 * The real apiserver in-process with the workload controllers as API clients over HTTP, and a
 * stand-in kubelet that reports pods Running and (when `ready` says so) Ready.
 */
export interface WorkloadsHarness {
  t: TestServer;
  client: KubeClient;
  controllers: WorkloadControllers;
  /** decides whether the stand-in kubelet marks a pod Ready (default: all) */
  ready: (pod: PodObject) => boolean;
  /** pods whose containers "exit" with this phase instead of staying Running */
  finish: (pod: PodObject) => 'Succeeded' | 'Failed' | undefined;
  close(): Promise<void>;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function startWorkloadsHarness(): Promise<WorkloadsHarness> {
  const t = await startTestServer();
  const client = new HttpKubeClient({ server: t.url, token: testToken });
  const controllers = new WorkloadControllers({ client, logger: silentLogger() });
  const ac = new AbortController();
  const h: WorkloadsHarness = {
    t,
    client,
    controllers,
    ready: () => true,
    finish: () => undefined,
    async close() {
      ac.abort();
      await Promise.allSettled([running, kubelet]);
      await t.server.close();
    },
  };
  const running = controllers.run(ac.signal);
  const kubelet = fakeKubelet(h, ac.signal);
  await controllers.informers.waitForSync(ac.signal);
  return h;
}

/** moves pods the way a kubelet would: Running, then Ready per `h.ready`; removes deleted pods */
async function fakeKubelet(h: WorkloadsHarness, signal: AbortSignal): Promise<void> {
  const { client } = h;
  const seen = new Map<string, string>();
  const step = async (p: PodObject): Promise<void> => {
    const ns = p.metadata.namespace ?? '';
    const name = p.metadata.name ?? '';
    try {
      if (p.metadata.deletionTimestamp) {
        await client.delete(Resources.pods, name, { namespace: ns, gracePeriodSeconds: 0, signal });
        return;
      }
      const phase = h.finish(p) ?? 'Running';
      const ready = phase === 'Running' && h.ready(p);
      const want = `${phase}/${ready}`;
      if (seen.get(`${ns}/${name}`) === want) return;
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      await client.patch(
        Resources.pods,
        name,
        'merge',
        { status: { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }] } },
        { namespace: ns, subresource: 'status', signal },
      );
      seen.set(`${ns}/${name}`, want);
    } catch (err) {
      if (!isHedgeError(err, 'NotFound') && !signal.aborted) throw err;
    }
  };
  // a poll rather than a watch: readiness rules change during a test and must apply to old pods too
  while (!signal.aborted) {
    try {
      const pods = await client.list<PodObject>(Resources.pods, { signal });
      await Promise.all(pods.items.map(step));
    } catch {
      // the server is going away
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const ns = 'default';

export function deployment(name: string, replicas: number, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox', env: [{ name: 'V', value: '1' }] }] } },
      ...extra,
    },
  };
}
