import type { Filter } from './types.ts';

export const REASON_PORTS = "node(s) didn't have free ports for the requested pod ports";

export const nodePorts: Filter = {
  name: 'NodePorts',
  filter({ pod, nodeInfo }) {
    return pod.hostPorts.some((hp) => nodeInfo.portInUse(hp)) ? [REASON_PORTS] : [];
  },
};
