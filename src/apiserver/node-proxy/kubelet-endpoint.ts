import type { KubeObject } from '../../api/object.ts';
import { HedgeError } from '../../lib/errors.ts';

interface NodeStatusView {
  addresses?: { type?: string; address?: string }[];
  daemonEndpoints?: { kubeletEndpoint?: { Port?: number } };
}

/** Upstream's --kubelet-preferred-address-types order, trimmed to what nodes report here. */
const preferredAddressTypes = ['InternalIP', 'Hostname', 'InternalDNS', 'ExternalIP', 'ExternalDNS'];

/** Where a node's kubelet-style server listens, from its status. */
export function kubeletEndpoint(node: KubeObject, defaultPort: number): { host: string; port: number } {
  const status = (node.status ?? {}) as NodeStatusView;
  const addresses = status.addresses ?? [];
  for (const type of preferredAddressTypes) {
    const a = addresses.find((x) => x.type === type && x.address);
    if (a?.address) {
      const p = status.daemonEndpoints?.kubeletEndpoint?.Port;
      return { host: a.address, port: typeof p === 'number' && p > 0 ? p : defaultPort };
    }
  }
  const known = addresses.map((a) => `{${a.type ?? ''} ${a.address ?? ''}}`).join(' ');
  throw new HedgeError('Unavailable', `no preferred addresses found; known addresses: [${known}]`);
}
