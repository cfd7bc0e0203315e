/**
 * The FailedScheduling message, worded as upstream's FitError.Error():
 * `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}.`
 * Each node contributes each of its reasons once; the "count reason" strings are sorted.
 */
export function fitErrorMessage(numNodes: number, reasonsByNode: ReadonlyMap<string, string[]>, preFilterMsg?: string): string {
  if (preFilterMsg) return `0/${numNodes} nodes are available: ${preFilterMsg}.`;
  if (numNodes === 0) return 'no nodes available to schedule pods';
  const hist = new Map<string, number>();
  for (const reasons of reasonsByNode.values()) {
    for (const r of new Set(reasons)) hist.set(r, (hist.get(r) ?? 0) + 1);
  }
  const parts = [...hist].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${numNodes} nodes are available: ${parts.join(', ')}.`;
}
