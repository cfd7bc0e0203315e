/** The network seam: CNI underneath (bridge default; macvlan and host-device as modes). */
import type { NetworkStatusEntry } from '../../api/annotations/multus.ts';

export interface NetworkSandbox {
  /** container id CNI sees (CNI_CONTAINERID) */
  id: string;
  pod: { uid: string; namespace: string; name: string };
  /** network namespace path to set up (created by the plugin in setUp when absent) */
  netnsPath: string;
  /** hostPort mappings (portmap) */
  portMappings: { hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' | 'sctp'; hostIP?: string }[];
  /** the pod's annotations: the Multus ones select its networks (multus/) */
  annotations?: Record<string, string>;
  /** some container has CAP_NET_ADMIN or is privileged: it could change the netns' own firewall */
  mayChangeNetns?: boolean;
}

export interface NetworkResult {
  /** address is bare (no /prefix); interface is the name of the interface holding it ('' if the plugin did not say) */
  ips: { address: string; prefixLength?: number; family: 4 | 6; gateway?: string; interface: string }[];
  /** host-side interface (veth) name, for stats */
  hostInterface?: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  /** every network attached (Multus' network-status), when the pod selected networks by annotation */
  networkStatus?: NetworkStatusEntry[];
}

export interface NetworkPlugin {
  readonly name: string;
  /** creates the netns (if needed) and runs CNI ADD; idempotent for the same id */
  setUp(sandbox: NetworkSandbox, signal: AbortSignal): Promise<NetworkResult>;
  /**
   * Optional: makes the sandbox's netns (idempotent) ahead of `setUp`, so a runtime can create
   * containers in it while `setUp` attaches it; `tearDown` removes it as one `setUp` made.
   */
  prepare?(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void>;
  /** runs CNI DEL and removes the netns; idempotent, never throws for "already gone" */
  tearDown(sandbox: NetworkSandbox, signal: AbortSignal): Promise<void>;
  /** CNI CHECK / the current result of a set-up sandbox, used after an agent restart */
  status(sandbox: NetworkSandbox, signal: AbortSignal, opts?: { check?: boolean }): Promise<NetworkResult | undefined>;
}
