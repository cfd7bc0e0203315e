import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { requestOverStream, type NodeDialer, type NodeRequest, type NodeResponse } from '../apiserver/index.ts';
import { HedgeError } from '../lib/errors.ts';
import { whenAborted } from '../lib/signals.ts';

/** Where this node's own kubelet-style server listens, and how the hub proves itself to it. */
export interface LocalNodeServer {
  /** a loopback address the server listens on */
  host: string;
  port: number;
  /** the server's own serving certificate (PEM): the one it must present, pinned */
  cert: string;
  /** the server's `NodeServerAuth.localToken`: the hub is `system:hedge-edgehub` there */
  token: string;
}

/** how long the loopback TLS handshake may take before the request is a 503 */
const HANDSHAKE_MS = 5_000;

/** a TLS connection to `s` that presented exactly `s.cert`; nothing is sent before that is known */
async function pinnedConnection(s: LocalNodeServer, fingerprint: string, signal: AbortSignal): Promise<TLSSocket> {
  // the certificate is checked by its digest below: it is a leaf whose CA key the node did not keep
  const sock = tlsConnect({ host: s.host, port: s.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  let forget = (): void => undefined;
  const timer = setTimeout(() => sock.destroy(new Error(`no TLS handshake within ${HANDSHAKE_MS} ms`)), HANDSHAKE_MS);
  try {
    await new Promise<void>((resolve, reject) => {
      forget = whenAborted(signal, reject);
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
  } catch (err) {
    sock.destroy();
    throw new HedgeError('Unavailable', `this node's server at ${s.host}:${s.port}: ${(err as Error).message}`, { cause: err });
  } finally {
    forget();
    clearTimeout(timer);
  }
  if (sock.getPeerX509Certificate()?.fingerprint256 !== fingerprint) {
    sock.destroy();
    throw new HedgeError('Unavailable', `${s.host}:${s.port} did not present this node's server certificate`);
  }
  return sock;
}

/**
 * The NodeDialer of the hub's replica apiserver, so that `pods/log|exec|attach|portforward`
 * through the hub run the apiserver's own handlers (pod-log.ts, pod-exec.ts) against this node's
 * server, on loopback and online or not. Any other node is refused: the hub has no way to it but
 * the cloud, which serves that itself.
 */
export function localNodeDialer(o: { nodeName: string; server: () => LocalNodeServer | undefined }): NodeDialer {
  let pinned: { cert: string; fingerprint: string } | undefined;
  return {
    canReach: (nodeName) => nodeName === o.nodeName && o.server() !== undefined,
    async request(r: NodeRequest): Promise<NodeResponse> {
      if (r.nodeName !== o.nodeName) throw otherNode(r.nodeName, o.nodeName);
      const s = o.server();
      if (!s) throw new HedgeError('Unavailable', `the server of node "${o.nodeName}" is not running`);
      if (pinned?.cert !== s.cert) pinned = { cert: s.cert, fingerprint: new X509Certificate(s.cert).fingerprint256 };
      const sock = await pinnedConnection(s, pinned.fingerprint, r.signal);
      return requestOverStream({ ...r, headers: { ...r.headers, authorization: `Bearer ${s.token}` } }, sock, 'on loopback');
    },
  };
}

/** a pod bound to another node: a 400 naming both nodes and where to go instead */
export function otherNode(podNode: string, nodeName: string, pod?: string): HedgeError {
  return new HedgeError(
    'BadRequest',
    `${pod ? `pod "${pod}" runs` : 'the pod runs'} on node "${podNode}", not on this node ("${nodeName}"): the edge hub serves logs, exec, attach and port-forward for this node's pods only; use the cloud apiserver for others`,
    pod ? { details: { kind: 'pods', name: pod } } : undefined,
  );
}
