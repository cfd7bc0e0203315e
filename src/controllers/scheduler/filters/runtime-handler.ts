import type { NodeObject } from '../../common/types.ts';
import { ActionType } from '../events.ts';
import type { Filter } from './types.ts';

/** What a node is assumed to run when it publishes no status.runtimeHandlers (older agents, plain kubelets). */
export const IMPLICIT_HANDLERS: readonly string[] = ['runc'];

/** The handler names a node offers (status.runtimeHandlers, k8s 1.30+); '' stands for its default handler. */
export function offeredHandlers(node: NodeObject): readonly string[] {
  const list = node.status?.runtimeHandlers;
  if (!list || list.length === 0) return IMPLICIT_HANDLERS;
  return list.map((h) => h.name ?? '');
}

/**
 * The node must offer the handler of the pod's RuntimeClass. Upstream does not check this
 * (a pod lands and fails at sandbox creation); hedge does. See the README for the rule.
 */
export const runtimeHandler: Filter = {
  name: 'RuntimeHandler',
  filter({ runtimeHandler: wanted, node }) {
    if (wanted === undefined) return [];
    return offeredHandlers(node).includes(wanted) ? [] : [`node(s) didn't offer runtime handler "${wanted}"`];
  },
  // hedge's own (no upstream plugin): the pod's RuntimeClass appears or changes its handler (it
  // also rejects the pod when the class is missing), or a node offers new handlers
  events: [
    { resource: 'RuntimeClass', actions: ActionType.Add | ActionType.Update, hint: ({ pod }, _old, cur) => (cur?.metadata.name === pod.spec?.runtimeClassName ? 'Queue' : 'QueueSkip') },
    {
      resource: 'Node',
      actions: ActionType.Add | ActionType.UpdateNodeRuntimeHandlers,
      hint: ({ pod }, old, cur) => {
        if (!pod.spec?.runtimeClassName || !cur) return 'QueueSkip';
        const before = new Set(old ? offeredHandlers(old) : []);
        return offeredHandlers(cur).some((h) => !before.has(h)) ? 'Queue' : 'QueueSkip';
      },
    },
  ],
};
