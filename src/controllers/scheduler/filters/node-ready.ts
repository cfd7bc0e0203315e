import type { Filter } from './types.ts';

export const REASON_NOT_READY = "node(s) were not ready";

/** Only nodes whose Ready condition is True take new pods (the node lifecycle controller keeps it honest). */
export const nodeReady: Filter = {
  name: 'NodeReady',
  filter({ node }) {
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    return ready?.status === 'True' ? [] : [REASON_NOT_READY];
  },
};
