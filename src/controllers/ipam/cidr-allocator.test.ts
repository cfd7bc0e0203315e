import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError } from '../../lib/errors.ts';
import { CidrAllocator, parseIpv4Cidr } from './cidr-allocator.ts';

test('allocates distinct ranges lowest first', () => {
  const a = new CidrAllocator({ clusterCidr: '10.244.0.0/16', nodeMaskSize: 24 });
  assert.equal(a.size, 256);
  assert.equal(a.allocate(), '10.244.0.0/24');
  assert.equal(a.allocate(), '10.244.1.0/24');
  assert.equal(a.allocate(), '10.244.2.0/24');
  assert.equal(a.used, 3);
});

test('release frees a range for the next allocation', () => {
  const a = new CidrAllocator({ clusterCidr: '10.244.0.0/16', nodeMaskSize: 24 });
  a.allocate();
  a.allocate();
  a.release('10.244.0.0/24');
  assert.equal(a.allocate(), '10.244.0.0/24');
  assert.equal(a.allocate(), '10.244.2.0/24');
});

test('exhaustion returns undefined until a range is released', () => {
  const a = new CidrAllocator({ clusterCidr: '192.168.0.0/23', nodeMaskSize: 24 });
  assert.equal(a.allocate(), '192.168.0.0/24');
  assert.equal(a.allocate(), '192.168.1.0/24');
  assert.equal(a.allocate(), undefined);
  a.release('192.168.1.0/24');
  assert.equal(a.allocate(), '192.168.1.0/24');
});

test('a rebuilt allocator never hands out a range existing nodes hold', () => {
  const first = new CidrAllocator({ clusterCidr: '10.244.0.0/16', nodeMaskSize: 24 });
  const held = [first.allocate()!, first.allocate()!, first.allocate()!];
  first.release(held[1]!);
  const rebuilt = new CidrAllocator({ clusterCidr: '10.244.0.0/16', nodeMaskSize: 24 });
  for (const c of [held[0]!, held[2]!]) assert.equal(rebuilt.occupy(c), true);
  assert.equal(rebuilt.allocate(), '10.244.1.0/24');
  assert.equal(rebuilt.allocate(), '10.244.3.0/24');
});

test('overlapping pre-set podCIDRs are counted, so releasing one keeps the other held', () => {
  const a = new CidrAllocator({ clusterCidr: '10.244.0.0/16', nodeMaskSize: 24 });
  // a wide /23 and a narrow /26 inside it, both pre-set by hand
  assert.equal(a.occupy('10.244.0.0/23'), true);
  assert.equal(a.occupy('10.244.1.64/26'), true);
  assert.equal(a.used, 2);
  a.release('10.244.0.0/23');
  // 10.244.1.0/24 is still held by the /26
  assert.equal(a.allocate(), '10.244.0.0/24');
  assert.equal(a.allocate(), '10.244.2.0/24');
});

test('an IPv6 pool hands out /64s lowest first, rebuilt from held ranges, and ignores IPv4 ones', () => {
  const a = new CidrAllocator({ clusterCidr: 'fd00:10:244::/56', nodeMaskSize: 64 });
  assert.equal(a.family, 6);
  assert.equal(a.size, 256);
  assert.equal(a.toString(), 'fd00:10:244::/56');
  assert.equal(a.allocate(), 'fd00:10:244::/64');
  assert.equal(a.allocate(), 'fd00:10:244:1::/64');
  assert.equal(a.occupy('fd00:10:244:2::/64'), true);
  assert.equal(a.occupy('10.244.0.0/24'), false);
  assert.equal(a.occupy('fd00:10:245::/64'), false, 'outside the pool');
  assert.equal(a.allocate(), 'fd00:10:244:3::/64');
  a.release('fd00:10:244:1::/64');
  assert.equal(a.allocate(), 'fd00:10:244:1::/64');
  // the last range of the pool, and a wide pre-set /62 covering four
  const b = new CidrAllocator({ clusterCidr: 'fd00:10:244::/62', nodeMaskSize: 64 });
  assert.equal(b.occupy('fd00:10:244::/62'), true);
  assert.equal(b.allocate(), undefined);
  b.release('fd00:10:244::/62');
  for (const want of ['fd00:10:244::/64', 'fd00:10:244:1::/64', 'fd00:10:244:2::/64', 'fd00:10:244:3::/64']) assert.equal(b.allocate(), want);
  assert.equal(b.allocate(), undefined);
});

test('ranges outside the pool or not IPv4 take nothing', () => {
  const a = new CidrAllocator({ clusterCidr: '10.244.0.0/16', nodeMaskSize: 24 });
  assert.equal(a.occupy('10.88.0.0/16'), false);
  assert.equal(a.occupy('fd00::/64'), false);
  assert.equal(a.occupy('nonsense'), false);
  assert.equal(a.used, 0);
  // a pool-covering range takes all of it
  assert.equal(a.occupy('10.0.0.0/8'), true);
  assert.equal(a.allocate(), undefined);
});

test('bad pool or mask is refused with the value named', () => {
  for (const [cidr, mask] of [['10.244.0.0', 24], ['fd00::/48', 127], ['fd00::/48', 40], ['fd00::/32', 64], ['10.244.0.0/16', 8], ['10.244.0.0/16', 31]] as const) {
    assert.throws(() => new CidrAllocator({ clusterCidr: cidr, nodeMaskSize: mask }), (e: unknown) => isHedgeError(e, 'Invalid'));
  }
  assert.deepEqual(parseIpv4Cidr('10.244.7.9/16'), { base: (10 * 256 + 244) * 65536, bits: 16 });
});
