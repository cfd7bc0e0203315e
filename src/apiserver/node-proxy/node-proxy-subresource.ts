import type { OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { HedgeError, notFound } from '../../lib/errors.ts';
import type { RequestScope } from '../handlers/scope.ts';
import { opContext } from '../handlers/write.ts';
import { admissionRequest } from '../registry/registry.ts';
import type { SubresourceProvider } from '../providers.ts';
import type { NodeDialer } from './node-dialer.ts';

/** hop-by-hop and credential headers never cross the proxy (upstream's UpgradeAwareHandler drops these too) */
const notForwarded = new Set(['authorization', 'host', 'connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function forwardable(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || notForwarded.has(k) || k.startsWith('impersonate-')) continue;
    out[k] = v;
  }
  return out;
}

/**
 * `/api/v1/nodes/{name}/proxy/{path}`: any method, relayed to `{path}` on the node's server
 * (`/metrics/cadvisor`, `/stats/summary`, `/pods`, ...) through the NodeDialer, so it reaches
 * tunnelled nodes too. Authorized as upstream: resource nodes, subresource proxy, verb by method.
 */
export function nodeProxyProvider(deps: { dialer: NodeDialer }): SubresourceProvider {
  return {
    group: '',
    resource: 'nodes',
    subresource: 'proxy',
    async serve(rq: RequestScope): Promise<void> {
      const name = rq.info.name;
      const raw = rq.req.url ?? '/';
      const q = raw.indexOf('?');
      const pathname = q < 0 ? raw : raw.slice(0, q);
      const m = /^\/api\/v1\/nodes\/[^/]+\/proxy(\/.*)?$/.exec(pathname);
      if (!m) throw new HedgeError('NotFound', 'the server could not find the requested resource');
      const path = `${m[1] ?? '/'}${q < 0 ? '' : raw.slice(q)}`;
      const node = (await rq.rs.tryGet('', name))?.obj;
      if (!node) throw notFound('nodes', name);
      // admitted as kube-apiserver's connect handler does: a CONNECT of nodes/proxy with the
      // NodeProxyOptions (its path: what follows /proxy, without the query)
      const subpath = m[1] ?? '';
      await rq.server.registry.admit(
        admissionRequest(opContext(rq, false, undefined), {
          operation: 'CONNECT',
          def: rq.def,
          subresource: 'proxy',
          kind: { group: '', version: 'v1', kind: 'NodeProxyOptions' },
          object: { apiVersion: 'v1', kind: 'NodeProxyOptions', metadata: {}, ...(subpath ? { path: subpath } : {}) },
          name,
          namespace: '',
        }),
      );
      const method = rq.req.method ?? 'GET';
      const hasBody = !['GET', 'HEAD', 'OPTIONS'].includes(method);
      const resp = await deps.dialer.request({
        nodeName: name,
        node,
        method,
        path,
        headers: forwardable(rq.req.headers),
        body: hasBody ? rq.req : undefined,
        signal: rq.signal,
      });
      if (resp.kind === 'upgrade') {
        resp.socket.destroy();
        throw new HedgeError('BadRequest', 'the node upgraded a request that did not ask for it');
      }
      const res = rq.res;
      res.statusCode = resp.statusCode;
      for (const [k, v] of Object.entries(resp.headers)) {
        if (v !== undefined && !notForwarded.has(k)) res.setHeader(k, v);
      }
      try {
        await pipeline(resp.body, res);
      } catch (err) {
        if (!rq.signal.aborted) rq.log.debug({ err }, 'node proxy stream ended early');
        res.destroy();
      }
    },
  };
}
