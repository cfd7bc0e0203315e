import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { KubeObject } from '../../api/object.ts';
import { silentLogger } from '../../lib/log.ts';
import type { MuxSession, MuxStream } from '../../lib/mux/index.ts';
import { generateCa, generateClientCert, generateServingCert } from '../auth/pki.ts';
import { directNodeDialer, tunnelNodeDialer } from './node-dialer.ts';
import { NodeTunnels } from './node-tunnels.ts';

const node = (name: string, addresses: { type: string; address: string }[] = []): KubeObject => ({ metadata: { name }, status: { addresses } });

describe('NodeDialer.canReach', () => {
  it('direct: only a node that reports an address it would dial', () => {
    const d = directNodeDialer();
    assert.equal(d.canReach?.('a', node('a', [{ type: 'InternalIP', address: '10.0.0.1' }])), true);
    assert.equal(d.canReach?.('b', node('b', [{ type: 'Hostname', address: 'b' }])), true);
    assert.equal(d.canReach?.('c', node('c')), false);
    assert.equal(d.canReach?.('d', node('d', [{ type: 'InternalIP', address: '' }])), false);
  });

  it('tunnel: a node with a tunnel, else what the direct fallback says', () => {
    const tunnels = new NodeTunnels({ logger: silentLogger() });
    tunnels.attach('t', { done: new Promise(() => undefined), closed: false, close: () => undefined } as unknown as MuxSession);
    const d = tunnelNodeDialer({ tunnels });
    assert.equal(d.canReach?.('t', node('t')), true);
    assert.equal(d.canReach?.('a', node('a', [{ type: 'InternalIP', address: '10.0.0.1' }])), true);
    assert.equal(d.canReach?.('n', node('n')), false);
  });
});

/** what the node's server saw of each request's TLS connection */
interface Seen {
  reused: boolean;
  authorized: boolean;
  user: string;
}

describe('tunnelNodeDialer: TLS to the node server inside the tunnel', () => {
  let server: Server;
  let port = 0;
  const seen: Seen[] = [];
  let client: { cert: string; key: string };
  let restartTicketKeys: () => void;

  before(async () => {
    const ca = await generateCa('test-ca');
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    const apiserver = await generateClientCert({ ca, commonName: 'kube-apiserver-kubelet-client' });
    // as `hedge server` gives it: a client certificate, no CA for the nodes' self-issued serving certificates
    client = apiserver;
    // as the node server (agent/server/node-server.ts): client certificates checked against the cluster CA, refusal left to the handler
    server = createServer({ cert: serving.cert, key: serving.key, ca: ca.cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const sock = req.socket as TLSSocket;
      const peer = sock.getPeerCertificate();
      seen.push({ reused: sock.isSessionReused(), authorized: sock.authorized, user: typeof peer.subject?.CN === 'string' ? peer.subject.CN : '' });
      res.end('ok');
    });
    restartTicketKeys = () => server.setTicketKeys(Buffer.alloc(48, seen.length + 1));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  // a tunnel stream stands in as a plain connection to the node's server (the node's side relays each stream so)
  const tunnels = { open: (): MuxStream => connect(port, '127.0.0.1') as Socket as unknown as MuxStream } as unknown as NodeTunnels;
  const get = async (dialer: ReturnType<typeof tunnelNodeDialer>, nodeName: string): Promise<string> => {
    const res = await dialer.request({ nodeName, node: { metadata: { name: nodeName } } as KubeObject, method: 'GET', path: '/healthz', headers: {}, signal: AbortSignal.timeout(10_000) });
    assert.equal(res.kind, 'response');
    let body = '';
    for await (const c of res.body) body += String(c);
    return body;
  };

  it("resumes each node's last TLS session, and the node's server still sees the apiserver's verified client certificate", async () => {
    const dialer = tunnelNodeDialer({ tunnels, client });
    seen.length = 0;
    for (let i = 0; i < 3; i++) assert.equal(await get(dialer, 'n1'), 'ok');
    assert.deepEqual(
      seen.map((s) => s.reused),
      [false, true, true],
    );
    for (const s of seen) {
      assert.equal(s.authorized, true);
      assert.equal(s.user, 'kube-apiserver-kubelet-client');
    }
    // another node's name has no session of its own yet: a full handshake
    await get(dialer, 'n2');
    assert.equal(seen.at(-1)!.reused, false);
  });

  it('a session the node no longer accepts (its server restarted: new ticket keys) falls back to a full handshake', async () => {
    const dialer = tunnelNodeDialer({ tunnels, client });
    seen.length = 0;
    await get(dialer, 'n1');
    restartTicketKeys();
    assert.equal(await get(dialer, 'n1'), 'ok');
    assert.deepEqual(
      seen.map((s) => [s.reused, s.authorized]),
      [
        [false, true],
        [false, true],
      ],
    );
  });
});
