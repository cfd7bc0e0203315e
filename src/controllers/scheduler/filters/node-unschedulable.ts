import { toleratesTaint } from '../../common/tolerations.ts';
import { ActionType } from '../events.ts';
import type { Filter } from './types.ts';

export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable';

const unschedulableTaint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' } as const;

/** spec.unschedulable (kubectl cordon) keeps pods off unless they tolerate the unschedulable taint, as upstream. */
export const nodeUnschedulable: Filter = {
  name: 'NodeUnschedulable',
  filter({ node, pod }) {
    if (!node.spec?.unschedulable) return [];
    const tolerated = (pod.pod.spec?.tolerations ?? []).some((t) => toleratesTaint(t, unschedulableTaint));
    return tolerated ? [] : [REASON_UNSCHEDULABLE];
  },
  // upstream's hint: a node added schedulable, or uncordoned
  events: [
    {
      resource: 'Node',
      actions: ActionType.Add | ActionType.UpdateNodeTaint,
      hint: (_pod, old, cur) => (cur && !cur.spec?.unschedulable && (!old || old.spec?.unschedulable) ? 'Queue' : 'QueueSkip'),
    },
  ],
};
