export { Overlay, vtepMac, VXLAN_OVERHEAD, type OverlayConfig } from './overlay.ts';
export { startOverlayController, peerFromNode, type OverlayController, type OverlayControllerOptions } from './controller.ts';
export { IpNetlink, OVERLAY_ROUTE_PROTO } from './ip-netlink.ts';
export { desiredState, planSteps, networkAddress, cidrContains, type PlanStep, type KernelState } from './plan.ts';
export type { Netlink, OverlayMode, OverlayPeer, RouteSpec, NeighSpec, FdbSpec, VxlanSpec, LinkState } from './types.ts';
