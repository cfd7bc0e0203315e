/** A host reboot for a node in test/e2e/partitioned-edge.ts (the edgehub e2e and bench/reboot-offline.ts). */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './harness.ts';
import type { HedgeNode } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

/**
 * What a reboot leaves: the data dir. Every conmon and container process is killed, mounts under
 * the data dir and the pinned pod netns are unmounted, pod cgroups removed, the bridge deleted.
 */
export async function simulateReboot(node: HedgeNode, edgeNetnsName: string): Promise<void> {
  const st = await node.hostState({ withPool: true });
  for (const pid of st.conmonPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  // anything else the node started with a path in its data dir (a microVM's qemu, its helpers)
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)) {
    const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!argv.includes(node.dataDir)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const dir of st.podCgroups) {
    const procs = await run('sh', ['-c', `find ${dir.replace('/memory/', '/pids/')} ${dir} -name cgroup.procs -exec cat {} + 2>/dev/null`]);
    for (const pid of new Set(procs.stdout.split('\n').filter((s) => /^\d+$/.test(s)))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  await waitUntil('container processes gone', 10_000, async () => {
    const left = await Promise.all(st.podCgroups.map((d) => readFile(join(d, 'cgroup.procs'), 'utf8').catch(() => '')));
    return left.every((l) => l.trim() === '') ? true : undefined;
  });
  for (const m of st.mounts.sort((a, b) => b.length - a.length)) await run('umount', ['-l', m]);
  for (const ns of st.netns) {
    await run('umount', [join(node.netnsDir, ns)]);
    await rm(join(node.netnsDir, ns), { force: true });
  }
  for (const ctl of ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'blkio', 'freezer', 'devices', 'hugetlb']) {
    await run('sh', ['-c', `find ${join('/sys/fs/cgroup', ctl, node.cgroupRoot)} -depth -mindepth 1 -type d -exec rmdir {} + 2>/dev/null; true`]);
  }
  await run('ip', ['-n', edgeNetnsName, 'link', 'del', node.bridge]);
  // /run is a tmpfs on a real host: runtime state under it is gone too
  await rm(`/run/hedge/runc-${node.nodeName}`, { recursive: true, force: true });
}
