import { ActionType } from '../events.ts';
import type { NodeObject } from '../../common/types.ts';
import type { Filter } from './types.ts';

export const REASON_NOT_READY = "node(s) were not ready";

/** Only nodes whose Ready condition is True take new pods (the node lifecycle controller keeps it honest). */
const isReady = (node: NodeObject): boolean => node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

export const nodeReady: Filter = {
  name: 'NodeReady',
  filter({ node }) {
    return isReady(node) ? [] : [REASON_NOT_READY];
  },
  // a node that turns (or is added) Ready; heartbeats and other conditions are no change
  events: [
    { resource: 'Node', actions: ActionType.Add | ActionType.UpdateNodeCondition, hint: (_pod, old, cur) => (cur && isReady(cur) && (!old || !isReady(old)) ? 'Queue' : 'QueueSkip') },
  ],
};
