/**
 * The Multus annotations, as users know them from Multus CNI (docs/how-to-use.md there):
 *
 *   v1.multus-cni.io/default-network  `[ns/]name`: the pod's primary network (eth0) is this
 *                                     NetworkAttachmentDefinition instead of the cluster network
 *   k8s.v1.cni.cncf.io/networks       extra interfaces: `a, ns/b@if2` or a JSON list of
 *                                     {name, namespace?, interface?, ips?, mac?}
 *   k8s.v1.cni.cncf.io/network-status written by the node: one entry per attached network
 *   hedge.io/default-network          on a RuntimeClass: the default network of its pods
 *                                     (copied to the pod's default-network annotation at admission)
 *
 * Pure parsing; the apiserver (node authorizer graph) and the agent both use it.
 */
import { isIP } from 'node:net';
import { isDNS1123Label, isDNS1123Subdomain } from '../meta/name-formats.ts';

export const DEFAULT_NETWORK_ANNOTATION = 'v1.multus-cni.io/default-network';
export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';
export const NETWORK_STATUS_ANNOTATION = 'k8s.v1.cni.cncf.io/network-status';
export const RUNTIME_CLASS_DEFAULT_NETWORK_ANNOTATION = 'hedge.io/default-network';

/** One network the pod asks for. */
export interface NetworkSelection {
  namespace: string;
  name: string;
  /** the interface name in the pod; for extras undefined means net<N> */
  interface?: string;
  /** static addresses (CIDR), handed to plugins that declare the `ips` capability */
  ips?: string[];
  /** handed to plugins that declare the `mac` capability */
  mac?: string;
}

export type SelectionParse = { ok: true; selections: NetworkSelection[] } | { ok: false; message: string };

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkRef(s: NetworkSelection, where: string): string | undefined {
  if (isDNS1123Subdomain(s.name).length > 0) return `${where}: network name ${JSON.stringify(s.name)} is not a valid object name`;
  if (isDNS1123Label(s.namespace).length > 0) return `${where}: namespace ${JSON.stringify(s.namespace)} is not a valid namespace`;
  if (s.interface !== undefined && (!IFNAME_RE.test(s.interface) || s.interface === '.' || s.interface === '..')) {
    return `${where}: interface ${JSON.stringify(s.interface)} is not an interface name (1-15 of A-Z a-z 0-9 _ . -)`;
  }
  if (s.mac !== undefined && !MAC_RE.test(s.mac)) return `${where}: mac ${JSON.stringify(s.mac)} is not a MAC address`;
  for (const ip of s.ips ?? []) {
    const [addr, bits, extra] = ip.split('/');
    const fam = isIP(addr ?? '');
    if (fam === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (fam === 4 ? 32 : 128)))) {
      return `${where}: ips: ${JSON.stringify(ip)} is not an IP address or CIDR`;
    }
  }
  return undefined;
}

/** `[ns/]name[@interface]` (the text form; `@interface` only where `allowInterface`) */
function parseRef(text: string, podNamespace: string, allowInterface: boolean): NetworkSelection | string {
  let rest = text.trim();
  let iface: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    if (!allowInterface) return `${JSON.stringify(text)}: no @interface here`;
    iface = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const parts = rest.split('/');
  if (parts.length > 2 || parts.some((p) => p === '')) return `${JSON.stringify(text)} is not [namespace/]name${allowInterface ? '[@interface]' : ''}`;
  const [a, b] = parts as [string, string | undefined];
  return { namespace: b === undefined ? podNamespace : a, name: b ?? a, ...(iface !== undefined ? { interface: iface } : {}) };
}

/** `k8s.v1.cni.cncf.io/networks`: the comma form or the JSON list form. */
export function parseNetworksAnnotation(value: string, podNamespace: string): SelectionParse {
  const text = value.trim();
  if (text === '') return { ok: true, selections: [] };
  const out: NetworkSelection[] = [];
  if (text.startsWith('[')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return { ok: false, message: `not a JSON list: ${(e as Error).message}` };
    }
    if (!Array.isArray(doc)) return { ok: false, message: 'not a JSON list' };
    for (const [i, e] of doc.entries()) {
      const where = `[${i}]`;
      if (!isObj(e)) return { ok: false, message: `${where} must be an object with a name` };
      if (typeof e.name !== 'string' || e.name === '') return { ok: false, message: `${where}: name is required` };
      for (const k of ['namespace', 'interface', 'mac'] as const) {
        if (e[k] !== undefined && typeof e[k] !== 'string') return { ok: false, message: `${where}: ${k} must be a string` };
      }
      if (e.ips !== undefined && !(Array.isArray(e.ips) && e.ips.every((x) => typeof x === 'string'))) return { ok: false, message: `${where}: ips must be a list of strings` };
      const s: NetworkSelection = {
        namespace: typeof e.namespace === 'string' && e.namespace !== '' ? e.namespace : podNamespace,
        name: e.name,
        ...(typeof e.interface === 'string' && e.interface !== '' ? { interface: e.interface } : {}),
        ...(Array.isArray(e.ips) && e.ips.length > 0 ? { ips: e.ips as string[] } : {}),
        ...(typeof e.mac === 'string' && e.mac !== '' ? { mac: e.mac } : {}),
      };
      const bad = checkRef(s, where);
      if (bad) return { ok: false, message: bad };
      out.push(s);
    }
  } else {
    for (const [i, item] of text.split(',').entries()) {
      const s = parseRef(item, podNamespace, true);
      if (typeof s === 'string') return { ok: false, message: s };
      const bad = checkRef(s, `[${i}]`);
      if (bad) return { ok: false, message: bad };
      out.push(s);
    }
  }
  return { ok: true, selections: out };
}

/** `v1.multus-cni.io/default-network`: `[ns/]name` (or a one-entry JSON list, as Multus also takes). */
export function parseDefaultNetworkAnnotation(value: string, podNamespace: string): { ok: true; selection: NetworkSelection } | { ok: false; message: string } {
  const text = value.trim();
  if (text.startsWith('[')) {
    const r = parseNetworksAnnotation(text, podNamespace);
    if (!r.ok) return r;
    if (r.selections.length !== 1) return { ok: false, message: 'names exactly one network' };
    const [s] = r.selections as [NetworkSelection];
    return { ok: true, selection: { ...s, interface: undefined } };
  }
  const s = parseRef(text, podNamespace, false);
  if (typeof s === 'string') return { ok: false, message: s };
  const bad = checkRef(s, 'default network');
  return bad ? { ok: false, message: bad } : { ok: true, selection: s };
}

/** Every NetworkAttachmentDefinition a pod's annotations name ({namespace, name}), for the node authorizer; malformed annotations name none. */
export function referencedNetworks(annotations: Record<string, string> | undefined, podNamespace: string): { namespace: string; name: string }[] {
  if (!annotations) return [];
  const out: { namespace: string; name: string }[] = [];
  const def = annotations[DEFAULT_NETWORK_ANNOTATION];
  if (def !== undefined) {
    const r = parseDefaultNetworkAnnotation(def, podNamespace);
    if (r.ok) out.push({ namespace: r.selection.namespace, name: r.selection.name });
  }
  const extra = annotations[NETWORKS_ANNOTATION];
  if (extra !== undefined) {
    const r = parseNetworksAnnotation(extra, podNamespace);
    if (r.ok) for (const s of r.selections) out.push({ namespace: s.namespace, name: s.name });
  }
  return out;
}

/** One entry of `k8s.v1.cni.cncf.io/network-status` (Multus' NetworkStatus). */
export interface NetworkStatusEntry {
  /** `ns/name` of the NetworkAttachmentDefinition, or the cluster network's CNI name */
  name: string;
  interface?: string;
  ips?: string[];
  mac?: string;
  /** true for the entry holding the pod's default route (the primary network) */
  default?: boolean;
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  gateway?: string[];
  'device-info'?: { type: string; version: string; [key: string]: unknown };
}

/** The annotation's text: Multus writes indented JSON; kubectl shows it as is. */
export function renderNetworkStatus(entries: NetworkStatusEntry[]): string {
  return JSON.stringify(entries, null, 4);
}
