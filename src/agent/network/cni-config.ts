/**
 * The typed network configuration of the agent and the CNI conflist built from it. Only the
 * shape is checked here; what the plugins themselves reject (a subnet they cannot use, a
 * missing master) comes back from them as a HedgeError with their own message.
 */
import { familyOf } from '../../lib/cidr.ts';
import { invalid, type FieldCause } from '../../lib/errors.ts';
import type { Spawner } from '../host/spawner.ts';
import { CNI_VERSION, type CniJson, type CniNetworkConfigList, type CniPluginConf } from './cni.ts';

export interface BridgeModeConfig {
  type: 'bridge';
  /** default hedge0 */
  bridge?: string;
  /** default 10.88.0.0/16 */
  subnet?: string;
  gateway?: string;
  /** dual-stack: the IPv6 pod range besides `subnet` (host-local leases one address of each; its gateway is the range's first address) */
  ipv6Subnet?: string;
  /** the bridge gets the gateway address; default true */
  isGateway?: boolean;
  /** masquerade pod traffic leaving the subnet; default true */
  ipMasq?: boolean;
  /** destinations beyond the subnet reached without masquerading: the cluster CIDR (pods on other nodes) */
  noMasq?: string[];
  /** default true, so a pod can reach itself through a Service address */
  hairpinMode?: boolean;
  mtu?: number;
  /** chain portmap for hostPorts; default true */
  portMap?: boolean;
}

export interface MacvlanModeConfig {
  type: 'macvlan';
  /** parent interface on the host */
  master: string;
  subnet: string;
  gateway?: string;
  /** default bridge (pods on the same master reach each other directly) */
  macvlanMode?: 'bridge' | 'private' | 'vepa' | 'passthru';
  mtu?: number;
}

export interface PassthroughModeConfig {
  type: 'passthrough';
  /** host interfaces handed out one per sandbox (host-device moves it into the pod) */
  devices: string[];
  /** optional host-local IPAM for the moved interface */
  subnet?: string;
  gateway?: string;
}

export type NetworkModeConfig = BridgeModeConfig | MacvlanModeConfig | PassthroughModeConfig;

export interface CniNetworkConfig {
  mode: NetworkModeConfig;
  /** the agent's data dir: conflists, result cache and IPAM state live in <dataDir>/cni */
  dataDir: string;
  /** default "hedge" */
  networkName?: string;
  /** default /run/hedge/netns */
  netnsDir?: string;
  /** default /usr/lib/cni, /opt/cni/bin */
  cniPath?: string[];
  /** default eth0 */
  ifName?: string;
  /** per plugin exec; default 60 s */
  timeoutMs?: number;
  /** runs the plugins instead of the agent (host/spawner.ts) where it can */
  spawner?: Spawner;
}

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const NET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function isIpv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isCidr(s: string): boolean {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  if (isIpv4(ip)) return Number(bits) <= 32;
  return ip.includes(':') && Number(bits) <= 128;
}

/** Throws HedgeError Invalid with one FieldCause per bad field. */
export function validateNetworkConfig(cfg: CniNetworkConfig): void {
  const causes: FieldCause[] = [];
  const bad = (field: string, message: string): void => {
    causes.push({ field, reason: 'FieldValueInvalid', message });
  };
  const m = cfg.mode;
  if (cfg.networkName !== undefined && !NET_NAME_RE.test(cfg.networkName)) bad('networkName', 'must be [A-Za-z0-9_.-]');
  if (cfg.ifName !== undefined && !IFNAME_RE.test(cfg.ifName)) bad('ifName', 'must be 1-15 of [A-Za-z0-9_.-]');
  if (!cfg.dataDir.startsWith('/')) bad('dataDir', 'must be an absolute path');
  const subnet = 'subnet' in m ? m.subnet : undefined;
  if (subnet !== undefined && !isCidr(subnet)) bad('mode.subnet', `"${subnet}" is not a CIDR`);
  if (m.gateway !== undefined && !isIpv4(m.gateway) && !m.gateway.includes(':')) bad('mode.gateway', 'not an IP address');
  switch (m.type) {
    case 'bridge':
      if (m.bridge !== undefined && !IFNAME_RE.test(m.bridge)) bad('mode.bridge', 'must be 1-15 of [A-Za-z0-9_.-]');
      if (m.ipv6Subnet !== undefined) {
        if (familyOf(m.ipv6Subnet) !== 6 || !m.ipv6Subnet.includes('/')) bad('mode.ipv6Subnet', `"${m.ipv6Subnet}" is not an IPv6 CIDR`);
        if (familyOf(m.subnet ?? '10.88.0.0/16') !== 4) bad('mode.subnet', 'must be an IPv4 CIDR when mode.ipv6Subnet is set (one range per family)');
      }
      break;
    case 'macvlan':
      if (!IFNAME_RE.test(m.master)) bad('mode.master', 'must name an interface');
      break;
    case 'passthrough':
      if (m.devices.length === 0) causes.push({ field: 'mode.devices', reason: 'FieldValueRequired', message: 'at least one' });
      m.devices.forEach((d, i) => IFNAME_RE.test(d) || bad(`mode.devices[${i}]`, 'must name an interface'));
      break;
    default:
      causes.push({ field: 'mode.type', reason: 'FieldValueNotSupported', message: 'bridge, macvlan or passthrough' });
  }
  if (causes.length > 0) throw invalid('NetworkConfig', cfg.networkName ?? 'hedge', causes);
}

/** host-local IPAM: one range set per subnet (dual-stack: an address of each family), a default route per family */
function hostLocal(dataDir: string, subnet: string, gateway?: string, ipv6Subnet?: string): { [key: string]: CniJson } {
  const ranges: CniJson[] = [[gateway ? { subnet, gateway } : { subnet }]];
  const routes: CniJson[] = [{ dst: '0.0.0.0/0' }];
  if (ipv6Subnet !== undefined) {
    ranges.push([{ subnet: ipv6Subnet }]);
    routes.push({ dst: '::/0' });
  }
  // host-local keeps one file per leased IP here; under our data dir, not /var/lib/cni
  return { type: 'host-local', dataDir: `${dataDir}/cni/ipam`, ranges, routes };
}

/**
 * The conflist for the mode. For passthrough the device is per sandbox; `device` fills it in
 * (the file written to disk leaves it out).
 */
export function buildConflist(cfg: CniNetworkConfig, device?: string): CniNetworkConfigList {
  const name = cfg.networkName ?? 'hedge';
  const m = cfg.mode;
  const plugins: CniPluginConf[] = [];
  switch (m.type) {
    case 'bridge': {
      const bridge: CniPluginConf = {
        type: 'bridge',
        bridge: m.bridge ?? 'hedge0',
        isGateway: m.isGateway ?? true,
        ipMasq: m.ipMasq ?? true,
        hairpinMode: m.hairpinMode ?? true,
        ipam: hostLocal(cfg.dataDir, m.subnet ?? '10.88.0.0/16', m.gateway, m.ipv6Subnet),
      };
      if (m.mtu !== undefined) bridge.mtu = m.mtu;
      plugins.push(bridge);
      if (m.portMap ?? true) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
      break;
    }
    case 'macvlan': {
      const mac: CniPluginConf = {
        type: 'macvlan',
        master: m.master,
        mode: m.macvlanMode ?? 'bridge',
        ipam: hostLocal(cfg.dataDir, m.subnet, m.gateway),
      };
      if (m.mtu !== undefined) mac.mtu = m.mtu;
      plugins.push(mac);
      break;
    }
    case 'passthrough': {
      const dev: CniPluginConf = { type: 'host-device' };
      if (device !== undefined) dev.device = device;
      if (m.subnet !== undefined) dev.ipam = { ...hostLocal(cfg.dataDir, m.subnet, m.gateway), routes: [] };
      plugins.push(dev);
      break;
    }
  }
  return { cniVersion: CNI_VERSION, name, plugins };
}
