import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Node } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../api/object.ts';
import { Resources } from '../client/resources.ts';
import type { KubeClient } from '../client/types.ts';
import { parseClusterCidrs } from '../controllers/ipam/cluster-cidrs.ts';
import { formatCidr } from '../lib/cidr.ts';
import { isHedgeError } from '../lib/errors.ts';
import { timeoutSignal } from '../lib/signals.ts';
import type { Logger } from '../lib/log.ts';

/** the pod subnet of a node the control plane gave no range (and that has none remembered) */
export const FALLBACK_POD_SUBNET = '10.88.0.0/16';
/** file in the node's data dir holding the last podCIDRs the control plane assigned (comma-separated) */
export const POD_CIDR_FILE = 'pod-cidr';

export interface PodSubnetOptions {
  client: KubeClient;
  nodeName: string;
  dataDir: string;
  logger: Logger;
  /** how long to wait for the node IPAM controller; default 30 s */
  timeoutMs?: number;
  /**
   * with a remembered range, how long one cloud read may take before that range is used; default
   * 2 s (the hub's offline detection bound): a link that swallows packets must not hold a reboot
   * while offline for the client's 30 s request timeout
   */
  rememberedWaitMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
}

/** an IPv4 range, then optionally an IPv6 one (what a node can use); undefined for anything else */
function usableRanges(cidrs: string[]): string[] | undefined {
  try {
    return parseClusterCidrs(cidrs.join(','), { 4: [1, 32], 6: [1, 128] }).map(formatCidr);
  } catch {
    return undefined;
  }
}

async function remembered(dataDir: string): Promise<string[] | undefined> {
  const s = await readFile(join(dataDir, POD_CIDR_FILE), 'utf8').then((t) => t.trim(), () => '');
  return s ? usableRanges(s.split(',')) : undefined;
}

/**
 * The pod subnets of a node started without `--pod-subnet`: its Node's `spec.podCIDRs` (IPv4,
 * then IPv6 in a dual-stack cluster), which the node IPAM controller assigns. The Node is created
 * here when absent (the agent adopts it), then polled for a bounded time. The answer is remembered in the data dir, so a node
 * that starts while the cloud is unreachable keeps its range; with neither, the fallback is
 * used with a warning.
 */
export async function podSubnetFromControlPlane(opts: PodSubnetOptions): Promise<string[]> {
  const { client, nodeName, dataDir, logger, signal } = opts;
  const log = logger.child({ component: 'pod-subnet' });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let unreachable: unknown;
  let warned = false;
  const hasRemembered = (await remembered(dataDir)) !== undefined;
  for (;;) {
    const bounded = hasRemembered ? timeoutSignal(signal, opts.rememberedWaitMs ?? 2_000) : undefined;
    try {
      const attempt = bounded ?? signal;
      const node = await client.get<Node & KubeObject>(Resources.nodes, nodeName, { signal: attempt }).catch(async (err: unknown) => {
        if (!isHedgeError(err, 'NotFound')) throw err;
        return client.create<Node & KubeObject>(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName } }, { signal: attempt }).catch(async (e: unknown) => {
          if (isHedgeError(e, 'AlreadyExists')) return client.get<Node & KubeObject>(Resources.nodes, nodeName, { signal: attempt });
          throw e;
        });
      });
      const given = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
      const cidrs = given.length > 0 ? usableRanges(given) : undefined;
      if (cidrs) {
        const file = join(dataDir, POD_CIDR_FILE);
        await writeFile(`${file}.tmp`, `${cidrs.join(',')}\n`, { mode: 0o600 });
        await rename(`${file}.tmp`, file);
        log.info({ podCIDRs: cidrs }, 'pod subnet assigned by the control plane');
        return cidrs;
      }
      if (given.length > 0 && !warned) log.warn({ podCIDRs: given }, 'the Node\'s podCIDRs are not an IPv4 range (then an IPv6 one); waiting');
      warned ||= given.length > 0;
      unreachable = undefined;
    } catch (err) {
      if (signal?.aborted) throw err;
      unreachable = err;
      // offline (or too slow to answer) with a range from before: keep it rather than wait
      const last = await remembered(dataDir);
      if (last) {
        log.warn({ err, podCIDRs: last }, 'control plane unreachable; using the last assigned pod subnet');
        return last;
      }
    } finally {
      bounded?.clear();
    }
    if (Date.now() >= deadline) break;
    await delay(opts.pollMs ?? 500, undefined, { signal });
  }
  const last = await remembered(dataDir);
  if (last) {
    log.warn({ podCIDRs: last }, 'no podCIDR on the Node yet; using the last assigned pod subnet');
    return last;
  }
  log.warn({ err: unreachable, fallback: FALLBACK_POD_SUBNET }, 'no podCIDR assigned to this Node in time (is the node IPAM controller running?); using the fallback pod subnet, which may overlap other nodes');
  return [FALLBACK_POD_SUBNET];
}
