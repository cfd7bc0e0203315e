/** Kernel module closure from modules.dep, in load order (dependencies first). */
export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const rest = line.slice(i + 1).trim();
    deps.set(line.slice(0, i), rest ? rest.split(/\s+/) : []);
  }
  return deps;
}

/** `wanted` are module names (virtio_blk); returns relative paths (kernel/drivers/...ko). */
export function moduleLoadOrder(deps: Map<string, string[]>, wanted: string[]): string[] {
  const byName = new Map<string, string>();
  for (const path of deps.keys()) {
    const base = path.split('/').pop() ?? path;
    byName.set(base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_'), path);
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    // modules.dep lists the full transitive closure; visiting each keeps dependency-first order
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const w of wanted) {
    const path = byName.get(w.replace(/-/g, '_'));
    if (!path) throw new Error(`kernel module ${w} not found in modules.dep`);
    visit(path);
  }
  return order;
}
