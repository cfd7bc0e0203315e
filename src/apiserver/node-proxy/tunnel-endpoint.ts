import type { WebSocketServer } from 'ws';
import type { ResourceDef } from '../../api/resources/types.ts';
import { HedgeError } from '../../lib/errors.ts';
import { MUX_MAX_FRAME, wsMuxSession } from '../../lib/mux/index.ts';
import { nodeNameOf } from '../auth/node-identity.ts';
import type { ApiGroupProvider, SubresourceProvider, UpgradeScope } from '../providers.ts';
import type { NodeTunnels } from './node-tunnels.ts';

export const TUNNEL_GROUP = 'tunnel.hedge.io';

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
        if (!wss) {
          const { WebSocketServer: Wss } = await import('ws');
          wss ??= new Wss({ noServer: true, perMessageDeflate: false, maxPayload: MUX_MAX_FRAME + 1024 });
        }
        const server = wss;
        await new Promise<void>((resolve) => {
          // a handshake ws rejects (bad key or version) answers 400 itself and never calls back
          rq.socket.once('close', () => resolve());
          server.handleUpgrade(rq.req, rq.socket, rq.head, (ws) => {
            const session = wsMuxSession(ws, { role: 'server', keepalive, windowBytes: opts.windowBytes });
            opts.tunnels.attach(name, session);
            resolve();
          });
        });
      },
    },
  };
}
