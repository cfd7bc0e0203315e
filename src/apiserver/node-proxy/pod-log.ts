import { pipeline } from 'node:stream/promises';
import { badRequest } from '../../lib/errors.ts';
import type { RequestScope } from '../handlers/scope.ts';
import type { SubresourceProvider } from '../providers.ts';
import { isTrue } from '../request-info.ts';
import { statusErrors } from '../status.ts';
import type { NodeDialer } from './node-dialer.ts';
import { nodeResponseError, resolvePodTarget } from './pod-target.ts';

/** Upstream PodLogOptions as the kubelet's /containerLogs takes them; validated like ValidatePodLogOptions. */
export function containerLogsQuery(q: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const flag of ['follow', 'previous', 'timestamps']) if (isTrue(q.get(flag))) out.set(flag, 'true');
  const int = (key: string, min: number): void => {
    const raw = q.get(key);
    if (raw === null || raw === '') return;
    if (!/^-?\d+$/.test(raw)) throw badRequest(`${key}: Invalid value: "${raw}": must be an integer`);
    const n = Number(raw);
    if (n < min) throw badRequest(`${key}: Invalid value: ${n}: must be greater than ${min === 0 ? 'or equal to 0' : min - 1}`);
    out.set(key, String(n));
  };
  int('tailLines', 0);
  int('limitBytes', 1);
  int('sinceSeconds', 1);
  const sinceTime = q.get('sinceTime');
  if (sinceTime) {
    if (q.get('sinceSeconds')) throw badRequest('at most one of `sinceTime` or `sinceSeconds` may be specified');
    if (Number.isNaN(Date.parse(sinceTime))) throw badRequest(`sinceTime: Invalid value: "${sinceTime}": must be an RFC3339 time`);
    out.set('sinceTime', sinceTime);
  }
  return out;
}

const maxErrorBody = 4096;

/** GET pods/{name}/log: stream the container's log from its node (text/plain, chunked; follow keeps it open). */
export function podLogProvider(deps: { dialer: NodeDialer }): SubresourceProvider {
  return {
    group: '',
    resource: 'pods',
    subresource: 'log',
    async serve(rq: RequestScope): Promise<void> {
      if (rq.info.verb !== 'get') throw statusErrors.methodNotAllowed(rq.req.method ?? '', 'pods/log');
      const query = containerLogsQuery(rq.query);
      const { info } = rq;
      const t = await resolvePodTarget(rq.server.registry, info.namespace, info.name, rq.query.get('container') ?? '');
      const enc = encodeURIComponent;
      const qs = query.toString();
      const resp = await deps.dialer.request({
        nodeName: t.nodeName,
        node: t.node,
        method: 'GET',
        path: `/containerLogs/${enc(info.namespace)}/${enc(info.name)}/${enc(t.container)}${qs ? `?${qs}` : ''}`,
        headers: {},
        signal: rq.signal,
      });
      if (resp.kind === 'upgrade') {
        resp.socket.destroy();
        throw nodeResponseError(502, 'the node upgraded a log request', info.name);
      }
      if (resp.statusCode < 200 || resp.statusCode > 299) {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const c of resp.body as AsyncIterable<Buffer>) {
          if (size < maxErrorBody) chunks.push(c);
          size += c.length;
        }
        throw nodeResponseError(resp.statusCode, Buffer.concat(chunks).subarray(0, maxErrorBody).toString('utf8'), info.name);
      }
      const res = rq.res;
      res.statusCode = 200;
      res.setHeader('Content-Type', resp.headers['content-type'] ?? 'text/plain');
      res.setHeader('Cache-Control', 'no-cache, private');
      // a follow stream must reach the client before the first log line does
      res.flushHeaders();
      try {
        await pipeline(resp.body, res);
      } catch (err) {
        // the client left (signal) or the node stream broke mid-way; either way the response is over
        if (!rq.signal.aborted) rq.log.debug({ err }, 'log stream ended early');
        res.destroy();
      }
    },
  };
}
