import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { CriLogWriter } from '../runtime/microvm/cri-log-writer.ts';
import { MicroVmRuntimeHandler } from '../runtime/microvm/microvm-handler.ts';
import type { ContainerId, RuntimeHandler } from '../runtime/types.ts';
import { LogRotationManager, type LogRotationSource } from './rotation-manager.ts';

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
