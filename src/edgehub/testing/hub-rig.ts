import { join } from 'node:path';
import type { KubeObject } from '../../api/object.ts';
import { startTestServer, testToken, type TestServer } from '../../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../../client/http-client.ts';
import { loadKubeconfig } from '../../client/kubeconfig.ts';
import { Resources } from '../../client/resources.ts';
import { silentLogger } from '../../lib/log.ts';
import type { Store } from '../../store/index.ts';
import { startHub, type HubOptions, type RunningHub } from '../hub.ts';
import { TcpLink } from './tcp-link.ts';

/** Polls `cond` every `pollMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, pollMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A busybox pod in `default` bound to `nodeName`; `spec` adds to (or replaces parts of) its spec. */
export function nodePod(nodeName: string, name: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...(labels ? { labels } : {}) },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }], ...spec },
  };
}

export interface HubRigOptions {
  nodeName: string;
  /** the hub's data lives in `<dir>/hub`; the caller owns (and removes) `dir` */
  dir: string;
  /** the cloud apiserver's store (default a fresh MemoryStore) */
  cloudStore?: Store;
  /** the hub's credential to the cloud (default the admin test token) */
  token?: string;
  /** runs with the cloud admin client after the Node exists and before the hub starts */
  seed?: (admin: HttpKubeClient) => Promise<void>;
  /** more hub options (replica store, health timing, ...); a function gets the cloud's URL through the link */
  hub?: Partial<HubOptions> | ((cloudUrl: string) => Partial<HubOptions>);
  /** the local client's request timeout */
  requestTimeoutMs?: number;
}

/** A cloud apiserver, the node↔cloud link as a TcpLink, and a hub on it that is online. */
export interface HubRig {
  cloud: TestServer;
  link: TcpLink;
  /** cloud admin client, direct (not through the link) */
  admin: HttpKubeClient;
  hub: RunningHub;
  /** a local client of the hub, with the kubeconfig the hub wrote */
  local: HttpKubeClient;
  /** closes the clients, the hub, the link and the cloud, in that order */
  close(): Promise<void>;
}

export async function startHubRig(o: HubRigOptions): Promise<HubRig> {
  const cloud = await startTestServer(o.cloudStore ? { store: o.cloudStore } : {});
  const u = new URL(cloud.url);
  const link = await TcpLink.open({ host: u.hostname, port: Number(u.port) });
  const admin = new HttpKubeClient({ server: cloud.url, token: testToken });
  await admin.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: o.nodeName } });
  await o.seed?.(admin);
  const cloudUrl = `http://127.0.0.1:${link.port}`;
  const hub = await startHub({
    nodeName: o.nodeName,
    dir: join(o.dir, 'hub'),
    cloud: { server: cloudUrl, token: o.token ?? testToken },
    port: 0,
    logger: silentLogger(),
    ...(typeof o.hub === 'function' ? o.hub(cloudUrl) : o.hub),
  });
  const local = new HttpKubeClient({ ...(await loadKubeconfig(hub.kubeconfigPath)), ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}) });
  await hub.waitFor('online');
  return {
    cloud,
    link,
    admin,
    hub,
    local,
    async close() {
      await local.close();
      await admin.close();
      await hub.close();
      await link.close();
      await cloud.close();
    },
  };
}
