import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeIsolation, isolationLabels, ociIsolation, parseIsolationLabels, type SandboxIsolation } from './isolation.ts';

it('derives each runtime\'s boundary: runc/crun namespaces, runsc its --platform (last one wins), microVM its accelerator', () => {
  assert.deepEqual(ociIsolation('runc', []), { kind: 'namespaces' });
  assert.deepEqual(ociIsolation('crun', ['--platform=kvm']), { kind: 'namespaces' });
  assert.deepEqual(ociIsolation('runsc', ['--network=host', '--platform=ptrace']), { kind: 'user-space-kernel', platform: 'ptrace' });
  assert.deepEqual(ociIsolation('runsc', ['--platform=ptrace', '--platform=systrap']), { kind: 'user-space-kernel', platform: 'systrap' });
  assert.deepEqual(ociIsolation('runsc', []), { kind: 'user-space-kernel', platform: 'ptrace' });
});

it('labels round-trip; foreign values are left out; descriptions say what the boundary is', () => {
  const m = new Map<string, SandboxIsolation>([
    ['runc', { kind: 'namespaces' }],
    ['gvisor', { kind: 'user-space-kernel', platform: 'ptrace' }],
    ['microvm', { kind: 'vm', accelerator: 'tcg' }],
  ]);
  const labels = isolationLabels(m);
  assert.deepEqual(labels, { 'isolation.hedge.io/runc': 'namespaces', 'isolation.hedge.io/gvisor': 'user-space-kernel.ptrace', 'isolation.hedge.io/microvm': 'microvm.tcg' });
  for (const v of Object.values(labels)) assert.match(v, /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'a valid label value');
  assert.deepEqual(parseIsolationLabels({ ...labels, 'isolation.hedge.io/odd': 'magic', 'kubernetes.io/hostname': 'n' }), m);
  assert.deepEqual([...m.values()].map(describeIsolation), ['Linux namespaces + seccomp, shared host kernel', 'gVisor user-space kernel, ptrace platform', 'microVM, TCG emulation']);
  assert.equal(describeIsolation({ kind: 'vm', accelerator: 'kvm' }), 'microVM, KVM');
});
