import type { Filter } from './types.ts';

/** requests + overhead against allocatable minus what the node's pods already request; every shortfall is reported. */
export const nodeResourcesFit: Filter = {
  name: 'NodeResourcesFit',
  filter({ pod, nodeInfo }) {
    const out: string[] = [];
    const alloc = nodeInfo.allocatable;
    const used = nodeInfo.requested;
    const want = pod.requests;
    if (nodeInfo.pods.size + 1 > alloc.pods) out.push('Too many pods');
    if (want.milliCPU > 0 && used.milliCPU + want.milliCPU > alloc.milliCPU) out.push('Insufficient cpu');
    if (want.memory > 0 && used.memory + want.memory > alloc.memory) out.push('Insufficient memory');
    if (want.ephemeralStorage > 0 && used.ephemeralStorage + want.ephemeralStorage > alloc.ephemeralStorage) {
      out.push('Insufficient ephemeral-storage');
    }
    return out;
  },
};
