/** Shared bits of the network tests and bench: names unique per run, host link snapshots. */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runChecked, runCommand } from '../host/run-command.ts';
import { missingTools } from '../runtime/oci/test-support.ts';

export function randomSuffix(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

/** A /24 in 10.200.0.0–10.249.255.0, random per call, so parallel runs rarely collide. */
export function randomSubnet(): { subnet: string; prefix: string } {
  const [a, b] = randomBytes(2);
  const prefix = `10.${200 + (a % 50)}.${b}`;
  return { subnet: `${prefix}.0/24`, prefix };
}

/**
 * Host links that belong to test run `run`: named with it, or enslaved to a bridge that is.
 * Other tests (e2e nodes, microVM taps) create links concurrently; they are not this run's leak.
 */
export async function runLinks(run: string): Promise<Set<string>> {
  const { stdout } = await runChecked('ip', ['-j', 'link', 'show']);
  const links = JSON.parse(stdout) as { ifname: string; master?: string }[];
  return new Set(links.filter((l) => l.ifname.includes(run) || l.master?.includes(run)).map((l) => l.ifname));
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  const args = ['ip', 'link', 'show', 'dev', name];
  const res = netns ? await runCommand('nsenter', [`--net=${netns}`, '--', ...args]) : await runCommand(args[0], args.slice(1));
  return res.code === 0;
}

export async function inNetns(netns: string, cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand('nsenter', [`--net=${netns}`, '--', ...cmd]);
}

/** A veth pair owned by the caller, both ends up, in the host namespace. */
export async function createVethPair(a: string, b: string): Promise<void> {
  await runChecked('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  await runChecked('ip', ['link', 'set', a, 'up']);
  await runChecked('ip', ['link', 'set', b, 'up']);
}

export async function deleteLink(name: string): Promise<void> {
  await runCommand('ip', ['link', 'del', 'dev', name]);
}

/** where the Debian containernetworking-plugins live */
export const CNI_PLUGIN_DIR = '/usr/lib/cni';

/** why the real-CNI tests cannot run here (root, the plugins, ip/nsenter/unshare), or undefined */
export function cniSkipReason(plugins = ['bridge', 'macvlan', 'host-device', 'host-local']): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!plugins.every((p) => existsSync(join(CNI_PLUGIN_DIR, p)))) return `needs the CNI plugins in ${CNI_PLUGIN_DIR} (containernetworking-plugins)`;
  const missing = missingTools(['ip', 'nsenter', 'unshare']);
  return missing.length ? `missing ${missing.join(', ')}` : undefined;
}
