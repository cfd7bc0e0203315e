import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseLoadavgTasks, systemHostProbe } from './host-probe.ts';

describe('systemHostProbe', () => {
  let root: string;
  const proc = (): string => join(root, 'proc');
  const etc = (): string => join(root, 'etc');
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hedge-host-probe-'));
    await mkdir(join(proc(), 'sys', 'kernel', 'random'), { recursive: true });
    await mkdir(join(proc(), '1'), { recursive: true });
    await mkdir(etc(), { recursive: true });
    await writeFile(join(etc(), 'machine-id'), 'm1\n');
    await writeFile(join(etc(), 'os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
    await writeFile(join(proc(), 'sys', 'kernel', 'random', 'boot_id'), 'b1\n');
    await writeFile(join(proc(), 'sys', 'kernel', 'pid_max'), '4194304\n');
    await writeFile(join(proc(), 'meminfo'), 'MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    4000000 kB\n');
    await writeFile(join(proc(), 'loadavg'), '0.52 0.58 0.59 3/731 12345\n');
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('reads the identity once: a later pass does not read the files again', async () => {
    const p = systemHostProbe({ procRoot: proc(), etcRoot: etc() });
    const first = await p.identity();
    assert.equal(first.machineID, 'm1');
    assert.equal(first.bootID, 'b1');
    assert.equal(first.osImage, 'Debian GNU/Linux 12 (bookworm)');
    await writeFile(join(etc(), 'machine-id'), 'm2\n');
    assert.deepEqual(await p.identity(), first);
    // a new probe (a new process) reads them again
    assert.equal((await systemHostProbe({ procRoot: proc(), etcRoot: etc() }).identity()).machineID, 'm2');
  });

  it('counts the tasks in use from /proc/loadavg, against pid_max', async () => {
    const u = await systemHostProbe({ procRoot: proc(), etcRoot: etc() }).usage(root);
    assert.deepEqual(u.pids, { used: 731, max: 4194304 });
    assert.deepEqual(u.memory, { totalBytes: 8000000 * 1024, availableBytes: 4000000 * 1024 });
    assert.ok(u.disk.totalBytes > 0);
  });

  it('pids.max is the summary rlimit\'s maxpid: min(pid_max, threads-max)', async () => {
    await writeFile(join(proc(), 'sys', 'kernel', 'threads-max'), '63000\n');
    try {
      assert.deepEqual((await systemHostProbe({ procRoot: proc(), etcRoot: etc() }).usage(root)).pids, { used: 731, max: 63000 });
    } finally {
      await rm(join(proc(), 'sys', 'kernel', 'threads-max'));
    }
  });

  it('without a readable loadavg it counts the process directories', async () => {
    await writeFile(join(proc(), 'loadavg'), 'garbage\n');
    assert.equal((await systemHostProbe({ procRoot: proc(), etcRoot: etc() }).usage(root)).pids.used, 1);
  });

  it('parseLoadavgTasks', () => {
    assert.equal(parseLoadavgTasks('0.00 0.01 0.05 1/123 4567\n'), 123);
    assert.equal(parseLoadavgTasks(''), undefined);
  });

  it('the real host: tasks in use within pid_max', async () => {
    const u = await systemHostProbe().usage(tmpdir());
    assert.ok(u.pids.used > 0 && u.pids.used < u.pids.max, JSON.stringify(u.pids));
  });
});
