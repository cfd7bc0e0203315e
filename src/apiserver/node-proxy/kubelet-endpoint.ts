import type { KubeObject } from '../../api/object.ts';
import { HedgeError } from '../../lib/errors.ts';

interface NodeStatusView {
  addresses?: { type?: string; address?: string }[];
  daemonEndpoints?: { kubeletEndpoint?: { Port?: number } };
}

/** Upstream's --kubelet-preferred-address-types order, trimmed to what nodes report here. */
const preferredAddressTypes = ['InternalIP', 'Hostname', 'InternalDNS', 'ExternalIP', 'ExternalDNS'];

/** the node's address to dial, by upstream's preference; undefined when it reports none */
function preferredAddress(node: KubeObject): string | undefined {
  const addresses = ((node.status ?? {}) as NodeStatusView).addresses ?? [];
  for (const type of preferredAddressTypes) {
    const a = addresses.find((x) => x.type === type && x.address);
    if (a?.address) return a.address;
  }
  return undefined;
}

/** whether kubeletEndpoint finds an address for the node */
export function hasKubeletAddress(node: KubeObject): boolean {
  return preferredAddress(node) !== undefined;
}

/** Where a node's kubelet-style server listens, from its status. */
export function kubeletEndpoint(node: KubeObject, defaultPort: number): { host: string; port: number } {
  const status = (node.status ?? {}) as NodeStatusView;
  const host = preferredAddress(node);
  if (host !== undefined) {
    const p = status.daemonEndpoints?.kubeletEndpoint?.Port;
    return { host, port: typeof p === 'number' && p > 0 ? p : defaultPort };
  }
  const addresses = status.addresses ?? [];
  const known = addresses.map((a) => `{${a.type ?? ''} ${a.address ?? ''}}`).join(' ');
  throw new HedgeError('Unavailable', `no preferred addresses found; known addresses: [${known}]`);
}
