import type { NodeObject } from '../../common/types.ts';
import type { NodeInfo, PodInfo } from '../node-info.ts';

export interface FilterContext {
  pod: PodInfo;
  nodeInfo: NodeInfo;
  node: NodeObject;
  /**
   * the runtime handler the pod needs (its RuntimeClass's `handler`); undefined when the pod
   * names no RuntimeClass and any node's default handler will do
   */
  runtimeHandler: string | undefined;
}

/** One scheduling predicate. Returns the reasons the node does not fit (empty = fits), worded like upstream. */
export interface Filter {
  name: string;
  filter(ctx: FilterContext): string[];
}
