/**
 * What a node publishes on its Node object so the other nodes can program their overlay towards
 * it (the agent's overlay writes and reads them; like flannel's `flannel.alpha.coreos.com/*`):
 *
 *   hedge.io/overlay-backend-type  vxlan | host-gw
 *   hedge.io/overlay-backend-data  {"vni":1,"vtepMAC":"0a:…"} (vxlan only)
 *   hedge.io/overlay-public-ip     the underlay address the peers send to (vxlan dst / host-gw next hop)
 *   hedge.io/overlay-public-ipv6   host-gw on a dual-stack node: its IPv6 address on the underlay, the
 *                                  next hop of its IPv6 pod range
 */
import { isIPv6 } from 'node:net';

export const OVERLAY_BACKEND_TYPE_ANNOTATION = 'hedge.io/overlay-backend-type';
export const OVERLAY_BACKEND_DATA_ANNOTATION = 'hedge.io/overlay-backend-data';
export const OVERLAY_PUBLIC_IP_ANNOTATION = 'hedge.io/overlay-public-ip';
export const OVERLAY_PUBLIC_IPV6_ANNOTATION = 'hedge.io/overlay-public-ipv6';

export type OverlayBackendType = 'vxlan' | 'host-gw';

export interface OverlayBackend {
  type: OverlayBackendType;
  publicIP: string;
  /** host-gw, dual-stack: the node's IPv6 address on the underlay (the next hop of its IPv6 pod range) */
  publicIPv6?: string;
  /** vxlan: the node's vtep device MAC and VNI */
  vtepMAC?: string;
  vni?: number;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isIpv4(s: string): boolean {
  const m = IPV4_RE.exec(s);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255);
}

/** The annotations that describe `b` (merge-patch them onto the Node). */
export function formatOverlayAnnotations(b: OverlayBackend): Record<string, string> {
  const out: Record<string, string> = { [OVERLAY_BACKEND_TYPE_ANNOTATION]: b.type, [OVERLAY_PUBLIC_IP_ANNOTATION]: b.publicIP };
  if (b.publicIPv6) out[OVERLAY_PUBLIC_IPV6_ANNOTATION] = b.publicIPv6;
  if (b.type === 'vxlan') out[OVERLAY_BACKEND_DATA_ANNOTATION] = JSON.stringify({ vni: b.vni ?? 1, vtepMAC: b.vtepMAC ?? '' });
  return out;
}

/** A peer's backend from its annotations, or undefined when they are missing or malformed. */
export function parseOverlayAnnotations(annotations: Record<string, string> | undefined): OverlayBackend | undefined {
  const type = annotations?.[OVERLAY_BACKEND_TYPE_ANNOTATION];
  const publicIP = annotations?.[OVERLAY_PUBLIC_IP_ANNOTATION];
  if (!publicIP || !isIpv4(publicIP)) return undefined;
  switch (type) {
    case 'host-gw': {
      const v6 = annotations?.[OVERLAY_PUBLIC_IPV6_ANNOTATION];
      return { type, publicIP, ...(v6 && isIPv6(v6) ? { publicIPv6: v6 } : {}) };
    }
    case 'vxlan': {
      try {
        const d: unknown = JSON.parse(annotations?.[OVERLAY_BACKEND_DATA_ANNOTATION] ?? '');
        if (typeof d !== 'object' || d === null) return undefined;
        const o = d as Record<string, unknown>;
        const mac = typeof o.vtepMAC === 'string' ? o.vtepMAC.toLowerCase() : '';
        const vni = typeof o.vni === 'number' && Number.isInteger(o.vni) ? o.vni : undefined;
        if (!MAC_RE.test(mac) || vni === undefined) return undefined;
        return { type, publicIP, vtepMAC: mac, vni };
      } catch {
        return undefined;
      }
    }
    default:
      return undefined;
  }
}
