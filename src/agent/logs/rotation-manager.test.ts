import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { CriLogWriter } from '../runtime/microvm/cri-log-writer.ts';
import { MicroVmRuntimeHandler } from '../runtime/microvm/microvm-handler.ts';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import { LogRotationManager, type LogRotationSource } from './rotation-manager.ts';
import { CriLogRotator } from './rotator.ts';

const pod: Pod = { metadata: { namespace: 'ns', name: 'p', uid: 'u' }, spec: { containers: [{ name: 'app' }] } };

function source(handler: RuntimeHandler, id: ContainerId, logDir: string): LogRotationSource {
  return { pods: () => [pod], locate: (_ns, _n, c) => (c === 'app' ? { handler, id, logDir, restartCount: 0 } : undefined) };
}

test('log rotation: a microVM container log rotates (host-side writer continues in a fresh file)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hedge-rot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  const logDir = join(dir, 'logs', 'app');
  const logPath = join(logDir, '0.log');
  const id = 'c1' as ContainerId;
  // the handler's record of a created container (what createContainer leaves in its state dir)
  mkdirSync(join(stateDir, 'containers', id), { recursive: true });
  writeFileSync(join(stateDir, 'containers', id, 'meta.json'), JSON.stringify({ config: { id, logPath }, createdAt: new Date().toISOString(), scsiId: 1, guestRoot: '/' }));
  const handler = new MicroVmRuntimeHandler({ stateDir, guest: { vmlinux: '', initrd: '', kernelVersion: '' }, logger: silentLogger(), accelerator: 'tcg' });
  // the writer the handler routes guest output through
  const writer = new CriLogWriter(logPath);
  writer.write('stdout', Buffer.from('before-1\nbefore-2\n'));

  const rotation = new LogRotationManager({ source: source(handler, id, logDir), logger: silentLogger(), maxSizeBytes: 64, maxFiles: 3, now: () => new Date('2026-01-01T00:00:00Z') });
  assert.equal(await rotation.rotateOnce(AbortSignal.timeout(10_000)), 1, 'microVM logs are rotated, not skipped');
  writer.write('stdout', Buffer.from('after-1\n'));

  const rotated = readFileSync(`${logPath}.20260101-000000`, 'utf8');
  assert.match(rotated, /stdout F before-1\n.*stdout F before-2\n$/s);
  const current = readFileSync(logPath, 'utf8');
  assert.match(current, /^\S+ stdout F after-1\n$/);

  // under the limit: nothing to do; a container the handler does not know fails that container only
  assert.equal(await rotation.rotateOnce(AbortSignal.timeout(10_000)), 0);
  writer.write('stdout', Buffer.from('x'.repeat(64) + '\n'));
  const gone = new LogRotationManager({ source: source(handler, 'nope' as ContainerId, logDir), logger: silentLogger(), maxSizeBytes: 16 });
  assert.equal(await gone.rotateOnce(AbortSignal.timeout(10_000)), 0);
  assert.match(readFileSync(logPath, 'utf8'), /after-1/, 'a failed reopen puts the file back');
});

test('log rotation: a handler without the reopen capability is skipped, its log left alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hedge-rot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logDir = join(dir, 'app');
  mkdirSync(logDir, { recursive: true });
  writeFileSync(join(logDir, '0.log'), 'x'.repeat(100));
  const handler = new MicroVmRuntimeHandler({ stateDir: dir, guest: { vmlinux: '', initrd: '', kernelVersion: '' }, logger: silentLogger(), accelerator: 'tcg' });
  const withoutCapability: RuntimeHandler = Object.assign(Object.create(handler) as RuntimeHandler, { reopenContainerLog: undefined });
  const rotation = new LogRotationManager({ source: source(withoutCapability, 'c1' as ContainerId, logDir), logger: silentLogger(), maxSizeBytes: 16 });
  assert.equal(await rotation.rotateOnce(AbortSignal.timeout(10_000)), 0);
  assert.equal(readFileSync(join(logDir, '0.log'), 'utf8').length, 100);
});

test('log rotation: rotated files are cleaned up when a log is first seen and after each rotation, not on every pass', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hedge-rot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logPath = join(dir, '0.log');
  const rotated = (): string[] => readdirSync(dir).filter((n) => n !== '0.log').sort();
  // what an earlier agent left: three rotated files, one more than maxFiles 3 keeps beside the log
  for (const s of ['20260101-000001', '20260101-000002', '20260101-000003']) writeFileSync(`${logPath}.${s}`, 'old\n');
  writeFileSync(logPath, 'small\n');
  let now = new Date('2026-01-02T00:00:00Z');
  const rotator = new CriLogRotator({ maxSizeBytes: 64, maxFiles: 3, now: () => now });
  const target = { logPath, reopen: async (): Promise<void> => writeFileSync(logPath, '') };
  assert.equal(await rotator.rotateIfNeeded(target, AbortSignal.timeout(10_000)), false);
  assert.deepEqual(rotated(), ['0.log.20260101-000002', '0.log.20260101-000003'], 'the oldest left over is removed on first sight');
  // a pass under the limit does not list the directory again
  writeFileSync(`${logPath}.20260101-000000`, 'stray\n');
  assert.equal(await rotator.rotateIfNeeded(target, AbortSignal.timeout(10_000)), false);
  assert.equal(rotated().length, 3);
  // a rotation cleans up again: two rotated files kept, the newest being the one just made
  writeFileSync(logPath, 'x'.repeat(100));
  assert.equal(await rotator.rotateIfNeeded(target, AbortSignal.timeout(10_000)), true);
  assert.deepEqual(rotated(), ['0.log.20260101-000003', '0.log.20260102-000000']);
  // a log forgotten (its container gone) and seen again is cleaned up on sight
  rotator.retain(new Set());
  writeFileSync(`${logPath}.20260101-000000`, 'stray\n');
  now = new Date('2026-01-03T00:00:00Z');
  assert.equal(await rotator.rotateIfNeeded(target, AbortSignal.timeout(10_000)), false);
  assert.deepEqual(rotated(), ['0.log.20260101-000003', '0.log.20260102-000000']);
});
