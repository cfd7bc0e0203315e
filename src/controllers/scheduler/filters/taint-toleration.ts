import { findToleration } from '../../common/tolerations.ts';
import type { Filter } from './types.ts';

/** NoSchedule and NoExecute taints must be tolerated; PreferNoSchedule only lowers the score. */
export const taintToleration: Filter = {
  name: 'TaintToleration',
  filter({ pod, node }) {
    const tols = pod.pod.spec?.tolerations;
    for (const taint of node.spec?.taints ?? []) {
      if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
      if (!findToleration(tols, taint)) return [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`];
    }
    return [];
  },
};
