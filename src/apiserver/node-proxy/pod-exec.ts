import type { OutgoingHttpHeaders } from 'node:http';
import { HedgeError, badRequest, notFound } from '../../lib/errors.ts';
import type { KubeObject } from '../../api/object.ts';
import type { AdmissionRequest } from '../admission/types.ts';
import type { SubresourceProvider, UpgradeScope } from '../providers.ts';
import { isTrue } from '../request-info.ts';
import type { NodeDialer } from './node-dialer.ts';
import { resolvePodTarget } from './pod-target.ts';
import { relayUpgrade } from './upgrade-relay.ts';

/** Upstream streamParams: booleans as "1", command repeated. */
export function streamQuery(q: URLSearchParams, kind: 'exec' | 'attach'): URLSearchParams {
  const out = new URLSearchParams();
  const stdin = isTrue(q.get('stdin'));
  const stdout = isTrue(q.get('stdout'));
  const stderr = isTrue(q.get('stderr'));
  const tty = isTrue(q.get('tty'));
  if (!stdin && !stdout && !stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  if (stdin) out.set('input', '1');
  if (stdout) out.set('output', '1');
  if (stderr) out.set('error', '1');
  if (tty) out.set('tty', '1');
  if (kind === 'exec') {
    const command = q.getAll('command');
    if (command.length === 0) throw badRequest('you must specify at least one command for the container');
    for (const c of command) out.append('command', c);
  }
  return out;
}

/** Upstream PodPortForwardOptions: optional `ports`, each 1-65535 (kubectl sends them in stream headers instead). */
export function portForwardQuery(q: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const p of q.getAll('ports')) {
    for (const one of p.split(',')) {
      const n = Number(one);
      if (!/^\d+$/.test(one) || n < 1 || n > 65535) throw badRequest(`ports: Invalid value: "${one}": must be between 1 and 65535, inclusive`);
      out.append('port', String(n));
    }
  }
  return out;
}

/** The pod and its Node for a port-forward (which names no container). */
async function resolvePodNode(rq: UpgradeScope): Promise<{ pod: KubeObject; nodeName: string; node: KubeObject }> {
  const reg = rq.server.registry;
  const podDef = reg.defFor('', 'pods');
  const nodeDef = reg.defFor('', 'nodes');
  if (!podDef || !nodeDef) throw new HedgeError('NotFound', 'the server could not find the requested resource');
  const pod = (await reg.storeFor(podDef).get(rq.info.namespace, rq.info.name)).obj;
  const nodeName = ((pod.spec ?? {}) as { nodeName?: string }).nodeName ?? '';
  if (nodeName === '') throw badRequest(`pod ${rq.info.name} does not have a host assigned`);
  const node = (await reg.storeFor(nodeDef).tryGet('', nodeName))?.obj;
  if (!node) throw notFound('nodes', nodeName);
  return { pod, nodeName, node };
}

/** Request headers that stay between the client and us. */
const notForwarded = new Set(['authorization', 'host', 'proxy-authorization', 'content-length']);

function forwardedHeaders(headers: UpgradeScope['req']['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || notForwarded.has(k) || k.startsWith('impersonate-')) continue;
    out[k] = v;
  }
  return out;
}

/** Where on the node a stream request goes, checked as upstream checks it. */
async function streamTarget(kind: 'exec' | 'attach' | 'portforward', rq: UpgradeScope): Promise<{ nodeName: string; node: KubeObject; path: string; container: string }> {
  const { info } = rq;
  const enc = encodeURIComponent;
  if (kind === 'portforward') {
    const query = portForwardQuery(rq.query);
    const t = await resolvePodNode(rq);
    const phase = (t.pod.status as { phase?: string } | undefined)?.phase;
    if (phase !== undefined && phase !== 'Running') throw badRequest(`unable to forward port because pod is not running. Current status=${phase}`);
    const qs = query.toString();
    return { nodeName: t.nodeName, node: t.node, path: `/portforward/${enc(info.namespace)}/${enc(info.name)}${qs ? `?${qs}` : ''}`, container: '' };
  }
  const query = streamQuery(rq.query, kind);
  const t = await resolvePodTarget(rq.server.registry, info.namespace, info.name, rq.query.get('container') ?? '');
  const phase = (t.pod.status as { phase?: string } | undefined)?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw badRequest(`cannot ${kind} into a container in a completed pod; current phase is ${phase}`);
  }
  return { nodeName: t.nodeName, node: t.node, path: `/${kind}/${enc(info.namespace)}/${enc(info.name)}/${enc(t.container)}?${query.toString()}`, container: t.container };
}

/**
 * The options object a CONNECT is admitted with (upstream's PodExecOptions, PodAttachOptions,
 * PodPortForwardOptions as the client sent them), e.g. for a policy webhook on `pods/exec`.
 */
function connectOptions(kind: 'exec' | 'attach' | 'portforward', q: URLSearchParams, container: string): KubeObject {
  if (kind === 'portforward') {
    const ports = portForwardQuery(q).getAll('port').map(Number);
    return { apiVersion: 'v1', kind: 'PodPortForwardOptions', metadata: {}, ...(ports.length ? { ports } : {}) };
  }
  const flags = { stdin: isTrue(q.get('stdin')), stdout: isTrue(q.get('stdout')), stderr: isTrue(q.get('stderr')), tty: isTrue(q.get('tty')), container };
  if (kind === 'attach') return { apiVersion: 'v1', kind: 'PodAttachOptions', metadata: {}, ...flags };
  return { apiVersion: 'v1', kind: 'PodExecOptions', metadata: {}, ...flags, command: q.getAll('command') };
}

/**
 * pods/exec, pods/attach and pods/portforward: the upgraded connection (WebSocket or SPDY) is
 * relayed byte for byte to the node's /exec|/attach|/portforward, as kube-apiserver's
 * UpgradeAwareHandler does; the stream protocol is negotiated between the client and the node.
 */
export function podStreamProvider(kind: 'exec' | 'attach' | 'portforward', deps: { dialer: NodeDialer }): SubresourceProvider {
  return {
    group: '',
    resource: 'pods',
    subresource: kind,
    async upgrade(rq: UpgradeScope): Promise<void> {
      const { info } = rq;
      const t = await streamTarget(kind, rq);
      // admitted as a CONNECT before the node is dialled, as kube-apiserver's connect handler does
      // (admission webhooks and policies on pods/exec, pods/attach, pods/portforward)
      const object = connectOptions(kind, rq.query, t.container);
      const admission: AdmissionRequest = {
        operation: 'CONNECT',
        def: rq.def,
        subresource: kind,
        kind: { group: '', version: 'v1', kind: object.kind ?? '' },
        namespace: info.namespace,
        name: info.name,
        object,
        user: rq.user,
        dryRun: false,
        signal: rq.signal,
      };
      await rq.server.registry.admit(admission);
      const resp = await deps.dialer.request({
        nodeName: t.nodeName,
        node: t.node,
        method: rq.req.method === 'POST' ? 'POST' : 'GET',
        path: t.path,
        headers: forwardedHeaders(rq.req.headers),
        signal: rq.signal,
      });
      await relayUpgrade(rq.socket, rq.head, resp);
      if (resp.kind === 'response') return;
      rq.log.debug({ pod: info.name, container: t.container, node: t.nodeName, kind }, 'stream proxied');
    },
  };
}
