import type { WebSocketServer } from 'ws';
import type { ResourceDef } from '../../api/resources/types.ts';
import { HedgeError } from '../../lib/errors.ts';
import { HEARTBEAT_HEADER, HEARTBEAT_RANGE, MUX_MAX_FRAME, wsMuxSession } from '../../lib/mux/index.ts';
import { nodeNameOf } from '../auth/node-identity.ts';
import type { ApiGroupProvider, SubresourceProvider, UpgradeScope } from '../providers.ts';
import type { NodeTunnels } from './node-tunnels.ts';

export const TUNNEL_GROUP = 'tunnel.hedge.io';

/** the `heartbeatMs` query parameter: undefined when absent; a number outside HEARTBEAT_RANGE or not an integer is a 400 */
function heartbeatOf(query: URLSearchParams): number | undefined {
  const raw = query.get('heartbeatMs');
  if (raw === null) return undefined;
  const ms = Number(raw);
  if (!/^\d+$/.test(raw) || ms < HEARTBEAT_RANGE.min || ms > HEARTBEAT_RANGE.max) {
    throw new HedgeError('BadRequest', `heartbeatMs: must be an integer number of milliseconds from ${HEARTBEAT_RANGE.min} to ${HEARTBEAT_RANGE.max}, got "${raw}"`);
  }
  return ms;
}

/**
 * `GET /apis/tunnel.hedge.io/v1/nodes/{name}/connect` (WebSocket): the node's tunnel. Nothing is
 * stored; the resource exists so the request is authenticated and authorized like any other
 * (verb get, resource nodes, subresource connect).
 */
export const tunnelNodesDef: ResourceDef = {
  group: TUNNEL_GROUP,
  version: 'v1',
  kind: 'NodeTunnel',
  listKind: 'NodeTunnelList',
  plural: 'nodes',
  singular: 'node',
  shortNames: [],
  categories: [],
  namespaced: false,
  verbs: [],
  subresources: ['connect'],
  hasStatus: false,
};

export interface TunnelEndpointOptions {
  tunnels: NodeTunnels;
  /** ping interval and dead-link timeout (default 2 s / 6 s) */
  keepalive?: { intervalMs: number; timeoutMs: number };
  /** per-stream receive window (default 256 KiB) */
  windowBytes?: number;
}

/** The tunnel group (for discovery and authorization) and its `connect` upgrade. */
export function tunnelEndpoint(opts: TunnelEndpointOptions): { group: ApiGroupProvider; connect: SubresourceProvider } {
  let wss: WebSocketServer | undefined;
  /** the heartbeat granted to each upgrade in progress, for the 101's header */
  const granted = new WeakMap<object, number>();
  const keepalive = opts.keepalive ?? { intervalMs: 2_000, timeoutMs: 6_000 };
  return {
    group: {
      name: TUNNEL_GROUP,
      resources: [tunnelNodesDef],
      serve(rq): Promise<void> {
        if (rq.info.subresource === 'connect') throw new HedgeError('BadRequest', 'Upgrade request required');
        throw new HedgeError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
      },
    },
    connect: {
      group: TUNNEL_GROUP,
      resource: 'nodes',
      subresource: 'connect',
      async upgrade(rq: UpgradeScope): Promise<void> {
        const name = rq.info.name;
        // a node may hold only its own tunnel: requests for node X are routed through X's tunnel alone
        if (nodeNameOf(rq.user) !== name) {
          throw new HedgeError('Forbidden', `nodes.${TUNNEL_GROUP} "${name}" is forbidden: only node "${name}" may open its tunnel`, {
            details: { kind: 'nodes', group: TUNNEL_GROUP, name },
          });
        }
        if ((rq.req.headers.upgrade ?? '').toLowerCase() !== 'websocket') throw new HedgeError('BadRequest', 'the tunnel is a WebSocket: Upgrade: websocket required');
        const heartbeatMs = heartbeatOf(rq.query);
        if (!wss) {
          const { WebSocketServer: Wss } = await import('ws');
          if (!wss) {
            wss = new Wss({ noServer: true, perMessageDeflate: false, maxPayload: MUX_MAX_FRAME + 1024 });
            wss.on('headers', (headers: string[], req: object) => {
              const ms = granted.get(req);
              if (ms !== undefined) headers.push(`${HEARTBEAT_HEADER}: ${ms}`);
            });
          }
        }
        const server = wss;
        if (heartbeatMs !== undefined) granted.set(rq.req, heartbeatMs);
        await new Promise<void>((resolve) => {
          // a handshake ws rejects (bad key or version) answers 400 itself and never calls back
          rq.socket.once('close', () => resolve());
          server.handleUpgrade(rq.req, rq.socket, rq.head, (ws) => {
            const session = wsMuxSession(ws, { role: 'server', keepalive, heartbeatMs, windowBytes: opts.windowBytes });
            opts.tunnels.attach(name, session);
            resolve();
          });
        });
      },
    },
  };
}
