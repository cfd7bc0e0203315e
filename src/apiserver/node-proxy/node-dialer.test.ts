import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import { silentLogger } from '../../lib/log.ts';
import type { MuxSession } from '../../lib/mux/index.ts';
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
