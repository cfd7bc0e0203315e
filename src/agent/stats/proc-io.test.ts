import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { activateBlkioAccounting, diskOf } from './blkio-accounting.ts';
import { parseProcIo, readCgroupProcIo } from './proc-io.ts';

const root = mkdtempSync(join(tmpdir(), 'hedge-procio-'));
after(() => rmSync(root, { recursive: true, force: true }));

const io = (r: number, w: number): string => `rchar: 99\nwchar: 99\nsyscr: 1\nsyscw: 1\nread_bytes: ${r}\nwrite_bytes: ${w}\ncancelled_write_bytes: 7\n`;

test('parseProcIo reads the storage figures, not rchar/wchar', () => {
  assert.deepEqual(parseProcIo(io(4096, 67108864)), { readBytes: 4096, writeBytes: 67108864 });
  assert.deepEqual(parseProcIo(''), { readBytes: 0, writeBytes: 0 });
});

test('readCgroupProcIo sums the processes of the cgroup and its children; gone processes count nothing', async () => {
  const cg = join(root, 'cg');
  const proc = join(root, 'proc');
  mkdirSync(join(cg, 'blkio', 'pod1', 'c1'), { recursive: true });
  writeFileSync(join(cg, 'blkio', 'pod1', 'cgroup.procs'), '');
  writeFileSync(join(cg, 'blkio', 'pod1', 'c1', 'cgroup.procs'), '10\n11\n12\n');
  for (const [pid, r, w] of [[10, 0, 20480], [11, 4096, 67108864]] as const) {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'io'), io(r, w));
  }
  assert.deepEqual(await readCgroupProcIo({ root: cg, path: 'pod1/c1' }, proc), { readBytes: 4096, writeBytes: 67108864 + 20480 });
  assert.deepEqual(await readCgroupProcIo({ root: cg, path: 'pod1' }, proc), { readBytes: 4096, writeBytes: 67108864 + 20480 });
  mkdirSync(join(cg, 'blkio', 'empty'));
  writeFileSync(join(cg, 'blkio', 'empty', 'cgroup.procs'), '');
  assert.deepEqual(await readCgroupProcIo({ root: cg, path: 'empty' }, proc), { readBytes: 0, writeBytes: 0 });
  assert.equal(await readCgroupProcIo({ root: cg, path: 'missing' }, proc), undefined);
});

test('activateBlkioAccounting writes an unlimited rule for the disk under a path (whole disk, once)', async (t) => {
  const dev = statSync(root).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  if (major === 0) {
    t.skip(`${tmpdir()} is on a device-less filesystem`);
    return;
  }
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  const sys = join(root, 'sys');
  // a partition of disk 8:0, as /sys/dev/block lays it out (the partition's parent holds the disk's dev)
  const disk = join(sys, 'devices', 'sda');
  mkdirSync(join(disk, 'sda1'), { recursive: true });
  writeFileSync(join(disk, 'dev'), '8:0\n');
  writeFileSync(join(disk, 'sda1', 'partition'), '1\n');
  mkdirSync(join(sys, 'dev', 'block'), { recursive: true });
  symlinkSync(join(disk, 'sda1'), join(sys, 'dev', 'block', `${major}:${minor}`));
  assert.equal(await diskOf(root, sys), '8:0');
  assert.equal(await diskOf('/proc', sys), undefined);
  const cg = join(root, 'cgacc');
  mkdirSync(join(cg, 'blkio', 'pod1'), { recursive: true });
  writeFileSync(join(cg, 'blkio', 'pod1', 'blkio.throttle.read_bps_device'), '');
  assert.deepEqual(await activateBlkioAccounting({ cgroupRoot: cg, cgroupPath: 'pod1', paths: [root, join(root, 'sys')], sysRoot: sys }), ['8:0']);
  assert.equal(readFileSync(join(cg, 'blkio', 'pod1', 'blkio.throttle.read_bps_device'), 'utf8'), '8:0 0\n');
});
