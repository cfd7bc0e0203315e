/**
 * The bridge plugin (1.1.x) learns which masquerade rules to drop from the addresses inside
 * the pod's namespace; when the namespace is already gone its DEL leaves the per-sandbox
 * nat chain and the POSTROUTING jump behind. This removes them by the names the plugin uses
 * (chain "CNI-" + sha512(network+id)[:24], comment `name: "N" id: "ID"`).
 */
import { createHash } from 'node:crypto';
import { runCommand, type RunOptions } from '../host/run-command.ts';

export function masqChainName(networkName: string, containerId: string): string {
  return `CNI-${createHash('sha512').update(networkName + containerId).digest('hex').slice(0, 24)}`;
}

export async function sweepMasqRules(networkName: string, containerId: string, opts: RunOptions = {}): Promise<void> {
  const chain = masqChainName(networkName, containerId);
  const rules = await runCommand('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'], opts);
  if (rules.code !== 0) return;
  const comment = `name: "${networkName}" id: "${containerId}"`;
  for (const line of rules.stdout.split('\n')) {
    if (!line.endsWith(`-j ${chain}`)) continue;
    const src = /-s (\S+)/.exec(line)?.[1];
    const spec = [...(src ? ['-s', src] : []), '-m', 'comment', '--comment', comment, '-j', chain];
    await runCommand('iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', ...spec], opts);
  }
  const exists = await runCommand('iptables', ['-w', '-t', 'nat', '-S', chain], opts);
  if (exists.code !== 0) return;
  await runCommand('iptables', ['-w', '-t', 'nat', '-F', chain], opts);
  await runCommand('iptables', ['-w', '-t', 'nat', '-X', chain], opts);
}
