import { ActionType } from '../events.ts';
import { hostPortsOf, type HostPort } from '../node-info.ts';
import type { Filter } from './types.ts';

/** two host ports clash: same protocol and port, and the same address or either on 0.0.0.0 */
const clash = (a: HostPort, b: HostPort): boolean => a.port === b.port && a.protocol === b.protocol && (a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0');

export const REASON_PORTS = "node(s) didn't have free ports for the requested pod ports";

export const nodePorts: Filter = {
  name: 'NodePorts',
  filter({ pod, nodeInfo }) {
    return pod.hostPorts.some((hp) => nodeInfo.portInUse(hp)) ? [REASON_PORTS] : [];
  },
  events: [
    // upstream's hint: a placed pod that held one of the pod's host ports left
    {
      resource: 'AssignedPod',
      actions: ActionType.Delete,
      hint: (pod, old) => (old && hostPortsOf(old).some((freed) => pod.hostPorts.some((hp) => clash(freed, hp))) ? 'Queue' : 'QueueSkip'),
    },
    // a new node has every port free; an update does not free any
    { resource: 'Node', actions: ActionType.Add },
  ],
};
