import { findToleration } from '../../common/tolerations.ts';
import type { NodeObject, PodObject } from '../../common/types.ts';
import { ActionType } from '../events.ts';
import type { Filter } from './types.ts';

/** the node's first NoSchedule/NoExecute taint the pod does not tolerate */
function untolerated(pod: PodObject, node: NodeObject): { key: string; value?: string } | undefined {
  const tols = pod.spec?.tolerations;
  for (const taint of node.spec?.taints ?? []) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!findToleration(tols, taint)) return taint;
  }
  return undefined;
}

/** NoSchedule and NoExecute taints must be tolerated; PreferNoSchedule only lowers the score. */
export const taintToleration: Filter = {
  name: 'TaintToleration',
  filter({ pod, node }) {
    const taint = untolerated(pod.pod, node);
    return taint ? [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`] : [];
  },
  // upstream's hint: a node whose taints the pod did not tolerate (or a new one) now tolerated
  events: [
    {
      resource: 'Node',
      actions: ActionType.Add | ActionType.UpdateNodeTaint,
      hint: ({ pod }, old, cur) => (cur && !untolerated(pod, cur) && (!old || untolerated(pod, old)) ? 'Queue' : 'QueueSkip'),
    },
  ],
};
