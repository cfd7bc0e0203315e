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
import { formatIp, parseCidr } from '../../../lib/cidr.ts';
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
  /** one address, or several (a dual-stack node's IPv4 and IPv6 bridge gateways): one responder each, same zone */
  listen: DnsListen | DnsListen[];
  /** where names outside the cluster go (the host's resolv.conf nameservers) */
  upstreams: Upstream[];
  forwardTimeoutMs?: number;
  /** the node's shared informers (the service proxy and the pods' service variables read the same Services); its own otherwise */
  informers?: SharedInformerFactory;
}

export interface RunningClusterDns {
  /** the bound address (the first of `addresses`) */
  address: { host: string; port: number };
  /** every bound address, in the order of `listen` */
  addresses: { host: string; port: number }[];
  zone: ClusterZone;
  /** resolves once both informers listed once */
  synced: Promise<void>;
  close(): Promise<void>;
}

export async function startClusterDns(o: ClusterDnsOptions): Promise<RunningClusterDns> {
  const log = o.logger;
  const zone = new ClusterZone(o.domain.toLowerCase().replace(/\.$/, ''));
  const forwarder = new Forwarder({ upstreams: o.upstreams, timeoutMs: o.forwardTimeoutMs });
  const servers: DnsServer[] = [];
  const addresses: { host: string; port: number }[] = [];
  try {
    for (const at of Array.isArray(o.listen) ? o.listen : [o.listen]) {
      const server = new DnsServer({ zone, forwarder, logger: log });
      addresses.push(await server.listen(at));
      servers.push(server);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  const address = addresses[0]!;
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
  log.info({ addresses, domain: zone.domain, upstreams: o.upstreams }, 'cluster DNS serving');
  return {
    address,
    addresses,
    zone,
    synced,
    async close() {
      stop.abort();
      await Promise.all(runs);
      if (informers !== o.informers) await informers.shutdown();
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

/** The first usable address of a subnet: what the CNI bridge plugin gives the bridge (host-local's default gateway), for either family. */
export function gatewayOf(cidr: string): { address: string; prefix: number } {
  const c = parseCidr(cidr);
  if (!c) throw new HedgeError('Invalid', `${cidr} is not a CIDR`);
  return { address: formatIp(c.family, c.base + 1n), prefix: c.bits };
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
 *
 * With `ipv6Subnet` (a dual-stack node) the bridge also gets that range's gateway (`nodad`: a
 * tentative address cannot be bound, and a bridge without ports never finishes DAD); the plugin
 * finds it there as well. Returns the gateways, IPv4 first.
 */
export async function ensureBridgeGateway(bridge: string, subnet: string, signal?: AbortSignal, ipv6Subnet?: string): Promise<string[]> {
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
  const gateways = [address];
  if (ipv6Subnet !== undefined) {
    const gw6 = gatewayOf(ipv6Subnet);
    const addrs6 = await runChecked('ip', ['-o', '-6', 'addr', 'show', 'dev', bridge], { signal });
    if (!addrs6.stdout.includes(` ${gw6.address}/${gw6.prefix} `)) {
      const add = await runCommand('ip', ['addr', 'add', `${gw6.address}/${gw6.prefix}`, 'dev', bridge, 'nodad'], { signal });
      if (add.code !== 0 && !/File exists/.test(add.stderr)) throw new HedgeError('Internal', `ip addr add ${gw6.address}/${gw6.prefix} dev ${bridge}: ${add.stderr.trim()}`);
    }
    gateways.push(gw6.address);
  }
  await runChecked('ip', ['link', 'set', bridge, 'up'], { signal });
  return gateways;
}
