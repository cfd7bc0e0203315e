import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cgroupHostProblem, createPodCgroup, isUnifiedCgroup, podCgroupProcs, removePodCgroup } from './cgroup.ts';
import { cpuSharesToWeight, POD_PROCS_LEAF } from './cgroup-v2.ts';

const dir = mkdtempSync(join(tmpdir(), 'hedge-cg2-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** a fake unified root: cgroup.controllers, and an empty cgroup.subtree_control in every cgroup made through `cg` */
function unifiedRoot(name: string, controllers = 'cpuset cpu io memory hugetlb pids rdma misc'): string {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(join(root, 'cgroup.subtree_control'), '');
  return root;
}

/**
 * A fake cgroupfs does not make a new cgroup's interface files: the test gives each level the
 * files the kernel would (its controllers are what the parent enabled).
 */
function cg(root: string, path: string, controllers: string): void {
  const d = join(root, path);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(join(d, 'cgroup.subtree_control'), '');
  writeFileSync(join(d, 'cgroup.procs'), '');
}

test('isUnifiedCgroup: a cgroup2 root (cgroup.controllers) is unified; a v1 or hybrid root (tmpfs of hierarchies, cgroup2 at unified/) is not', () => {
  assert.equal(isUnifiedCgroup(unifiedRoot('u')), true);
  const hybrid = join(dir, 'hybrid');
  for (const h of ['cpu', 'memory', 'unified']) mkdirSync(join(hybrid, h), { recursive: true });
  writeFileSync(join(hybrid, 'unified', 'cgroup.controllers'), '');
  assert.equal(isUnifiedCgroup(hybrid), false);
  // this machine: hybrid (the node's start would refuse it otherwise)
  assert.equal(isUnifiedCgroup('/sys/fs/cgroup'), existsSync('/sys/fs/cgroup/cgroup.controllers'));
});

test('cpuSharesToWeight is runc\'s and the kubelet\'s conversion: 2 → 1, 1024 → 39, 262144 → 10000', () => {
  assert.deepEqual([2, 512, 1024, 2048, 262144].map(cpuSharesToWeight), [1, 20, 39, 79, 10000]);
  assert.equal(cpuSharesToWeight(0), 0);
});

test('createPodCgroup on v2: controllers enabled in every ancestor, cpu.max from the quota, cpu.weight from the shares, memory.max; procs in the pod leaf; removal children first', async () => {
  const root = unifiedRoot('pod', 'cpuset cpu io memory pids');
  // the node's parent exists already with what the root passed down, and already enables memory for its children
  cg(root, 'hedge', 'cpu io memory pids');
  writeFileSync(join(root, 'hedge', 'cgroup.subtree_control'), 'memory\n');
  const parent = 'hedge/pod-1';
  await createPodCgroup({ cgroupRoot: root, cgroupParent: parent, resources: { cpuMilli: 250, memoryBytes: 64 * 2 ** 20 } });
  // each write to subtree_control adds only what is missing and available (the fake file keeps the last write)
  assert.equal(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids +io');
  assert.equal(readFileSync(join(root, 'hedge', 'cgroup.subtree_control'), 'utf8'), '+cpu +pids +io');
  const pod = join(root, parent);
  assert.equal(readFileSync(join(pod, 'cpu.max'), 'utf8'), '25000 100000');
  // 250m → 256 shares → weight 1 + (254 * 9999) / 262142 = 10
  assert.equal(readFileSync(join(pod, 'cpu.weight'), 'utf8'), '10');
  assert.equal(readFileSync(join(pod, 'memory.max'), 'utf8'), String(64 * 2 ** 20));
  // no v1 hierarchy directories were made
  assert.equal(existsSync(join(root, 'cpu')), false);
  assert.equal(existsSync(join(root, 'memory')), false);

  // a tiny CPU amount keeps the kernel's 1 ms minimum quota; no resources: no limit files
  await createPodCgroup({ cgroupRoot: root, cgroupParent: 'hedge/pod-2', resources: { cpuMilli: 5 } });
  assert.equal(readFileSync(join(root, 'hedge/pod-2', 'cpu.max'), 'utf8'), '1000 100000');
  assert.equal(readFileSync(join(root, 'hedge/pod-2', 'cpu.weight'), 'utf8'), '1');
  assert.equal(existsSync(join(root, 'hedge/pod-2', 'memory.max')), false);

  // before the pod cgroup exists (the kernel's cgroup.procs): none; then the one leaf below it
  assert.deepEqual(await podCgroupProcs({ cgroupRoot: root, cgroupParent: parent }), []);
  writeFileSync(join(pod, 'cgroup.procs'), '');
  assert.deepEqual(await podCgroupProcs({ cgroupRoot: root, cgroupParent: parent }), [join(pod, POD_PROCS_LEAF, 'cgroup.procs')]);

  // a container below the pod: everything goes, children first; the node's cgroup and the other pod stay
  mkdirSync(join(pod, 'ctr-a', 'sub'), { recursive: true });
  // rmdir of a fake cgroup fails on its files: remove them as the kernel would have none
  for (const f of ['cpu.max', 'cpu.weight', 'memory.max', 'cgroup.procs', 'cgroup.controllers', 'cgroup.subtree_control']) rmSync(join(pod, f), { force: true });
  await removePodCgroup({ cgroupRoot: root, cgroupParent: parent });
  assert.equal(existsSync(pod), false);
  assert.ok(existsSync(join(root, 'hedge', 'pod-2')));
});

test('enabling controllers leaves out what the parent does not offer (a kernel without io, a delegated subtree)', async () => {
  const root = unifiedRoot('partial', 'cpu memory');
  await createPodCgroup({ cgroupRoot: root, cgroupParent: 'p', resources: {} });
  assert.equal(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory');
});

test('cgroupHostProblem on a unified host: accepted when cpu, memory and pids are enabled at the root; refused naming the missing ones', () => {
  const full = unifiedRoot('host-full', 'cpuset cpu io memory pids');
  assert.equal(cgroupHostProblem(full), undefined);
  const bare = unifiedRoot('host-bare', 'cpuset io memory');
  assert.match(cgroupHostProblem(bare) ?? '', /cgroup v2 hierarchy at .*host-bare has no cpu, pids controller/);
});
