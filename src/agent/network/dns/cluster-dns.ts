/**
 * Cluster DNS on the node: list+watch Services and EndpointSlices through the node's client (the
 * edgehub when present, so the records survive a cut-off cloud and a restart while offline) into
 * a ClusterZone, served by a DnsServer on an address the pods reach (the pod bridge's gateway).
 */
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { KubeObject } from '../../../api/object.ts';
import { Resources } from '../../../client/resources.ts';
import { SharedInformerFactory } from '../../../client/shared-informers.ts';
import type { KubeClient } from '../../../client/types.ts';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { runChecked, runCommand } from '../../host/run-command.ts';
import { ClusterZone } from './cluster-zone.ts';
import { DnsServer, type DnsListen } from './dns-server.ts';
import { Forwarder, type Upstream } from './forwarder.ts';

type ServiceObject = Service & KubeObject;
type SliceObject = EndpointSlice & KubeObject;

export interface ClusterDnsOptions {
  client: KubeClient;
  logger: Logger;
  /** e.g. cluster.local */
  domain: string;
  listen: DnsListen;
  /** where names outside the cluster go (the host's resolv.conf nameservers) */
  upstreams: Upstream[];
  forwardTimeoutMs?: number;
  /** the node's shared informers (the service proxy and the pods' service variables read the same Services); its own otherwise */
  informers?: SharedInformerFactory;
}

export interface RunningClusterDns {
  /** the bound address */
  address: { host: string; port: number };
  zone: ClusterZone;
  /** resolves once both informers listed once */
  synced: Promise<void>;
  close(): Promise<void>;
}

export async function startClusterDns(o: ClusterDnsOptions): Promise<RunningClusterDns> {
  const log = o.logger;
  const zone = new ClusterZone(o.domain.toLowerCase().replace(/\.$/, ''));
  const server = new DnsServer({ zone, forwarder: new Forwarder({ upstreams: o.upstreams, timeoutMs: o.forwardTimeoutMs }), logger: log });
  const address = await server.listen(o.listen);
  const stop = new AbortController();
  const informers = o.informers ?? new SharedInformerFactory({ client: o.client, logger: log });
  const services = informers.informer<ServiceObject>({
    resource: Resources.services,
    onAdd: (s) => zone.setService(s),
    onUpdate: (_, s) => zone.setService(s),
    onDelete: (s) => zone.deleteService(s),
  });
  const slices = informers.informer<SliceObject>({
    resource: Resources.endpointslices,
    onAdd: (s) => zone.setSlice(s),
    onUpdate: (_, s) => zone.setSlice(s),
    onDelete: (s) => zone.deleteSlice(s),
  });
  const runs = [services.run(stop.signal), slices.run(stop.signal)];
  const synced = Promise.all([services.waitForSync(stop.signal), slices.waitForSync(stop.signal)]).then(() => undefined);
  synced.catch(() => undefined);
  log.info({ address, domain: zone.domain, upstreams: o.upstreams }, 'cluster DNS serving');
  return {
    address,
    zone,
    synced,
    async close() {
      stop.abort();
      await Promise.all(runs);
      if (informers !== o.informers) await informers.shutdown();
      await server.close();
    },
  };
}

/** The first usable address of an IPv4 subnet: what the CNI bridge plugin gives the bridge (host-local's default gateway). */
export function gatewayOf(cidr: string): { address: string; prefix: number } {
  const [ip = '', bits = ''] = cidr.split('/');
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const prefix = Number(bits);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const gw = ((n & mask) >>> 0) + 1;
  return { address: [24, 16, 8, 0].map((s) => (gw >>> s) & 0xff).join('.'), prefix };
}

/**
 * Creates the pod bridge with its gateway address ahead of the first pod, so the DNS responder
 * can bind there at start; the CNI bridge plugin adopts a bridge that already has exactly this
 * address. The bridge stays when the node stops (pods keep running), as the plugin's does.
 *
 * Its MAC address is pinned to the one it has: a bridge whose address was never set takes the
 * lowest of its ports' and changes as pod ports come and go, and every pod's neighbour entry for
 * the gateway then names a MAC nothing answers to (frames to it are flooded and dropped) until it
 * goes stale and fails, up to ~50 s with no traffic off the pod's subnet. The CNI bridge plugin
 * pins it when it adds the gateway address, but finds it here already added and does not.
 */
export async function ensureBridgeGateway(bridge: string, subnet: string, signal?: AbortSignal): Promise<string> {
  const { address, prefix } = gatewayOf(subnet);
  const show = await runCommand('ip', ['-o', 'link', 'show', 'dev', bridge], { signal });
  if (show.code !== 0) {
    const add = await runCommand('ip', ['link', 'add', bridge, 'type', 'bridge'], { signal });
    if (add.code !== 0 && !/File exists/.test(add.stderr)) throw new HedgeError('Internal', `ip link add ${bridge} type bridge: ${add.stderr.trim()}`);
  }
  // the address it has now is the one its pods know: set to itself, it no longer follows the ports
  const [link] = JSON.parse((await runChecked('ip', ['-j', 'link', 'show', 'dev', bridge], { signal })).stdout) as { address?: string }[];
  if (!link?.address) throw new HedgeError('Internal', `ip link show ${bridge}: no MAC address`);
  await runChecked('ip', ['link', 'set', 'dev', bridge, 'address', link.address], { signal });
  const addrs = await runChecked('ip', ['-o', '-4', 'addr', 'show', 'dev', bridge], { signal });
  if (!addrs.stdout.includes(` ${address}/${prefix} `)) {
    const add = await runCommand('ip', ['addr', 'add', `${address}/${prefix}`, 'dev', bridge], { signal });
    if (add.code !== 0 && !/File exists/.test(add.stderr)) throw new HedgeError('Internal', `ip addr add ${address}/${prefix} dev ${bridge}: ${add.stderr.trim()}`);
  }
  await runChecked('ip', ['link', 'set', bridge, 'up'], { signal });
  return address;
}
