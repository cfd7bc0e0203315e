import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../api/object.ts';
import { FakeKubeClient } from '../client/fake-client.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { Resources } from '../client/resources.ts';
import { NodeIpamController } from '../controllers/ipam/controller.ts';
import { silentLogger } from '../lib/log.ts';
import { FALLBACK_POD_SUBNET, POD_CIDR_FILE, podSubnetFromControlPlane } from './pod-subnet.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-podsubnet-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** a loopback port nothing listens on: connections are refused */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('two nodes without --pod-subnet get the distinct podCIDRs the IPAM controller assigns, remembered on disk', async () => {
  await withDir(async (dir) => {
    const client = new FakeKubeClient();
    const ctl = new NodeIpamController({ client, logger: silentLogger(), clusterCidr: '10.244.0.0/16', nodeCidrMaskSize: 24 });
    const ac = new AbortController();
    const running = ctl.run(ac.signal);
    const got: string[] = [];
    for (const nodeName of ['edge-1', 'edge-2']) {
      const dataDir = join(dir, nodeName);
      await mkdir(dataDir);
      const cidrs = await podSubnetFromControlPlane({ client, nodeName, dataDir, logger: silentLogger(), pollMs: 20 });
      assert.equal(cidrs.length, 1);
      const cidr = cidrs[0]!;
      assert.equal((await readFile(join(dataDir, POD_CIDR_FILE), 'utf8')).trim(), cidr);
      got.push(cidr);
    }
    assert.equal(new Set(got).size, 2);
    for (const c of got) assert.match(c, /^10\.244\.\d+\.0\/24$/);
    // the Node the helper created is the one the agent will adopt
    const node = await client.get<Node & KubeObject>(Resources.nodes, 'edge-1');
    assert.equal(node.spec?.podCIDR, got[0]);
    ac.abort();
    await running;
  });
});

test('dual-stack: both podCIDRs [IPv4, IPv6] are taken and remembered, and a remembered pair is used offline', async () => {
  await withDir(async (dir) => {
    const client = new FakeKubeClient();
    const ctl = new NodeIpamController({ client, logger: silentLogger(), clusterCidr: '10.244.0.0/16,fd00:10:244::/56', nodeCidrMaskSize: 24 });
    const ac = new AbortController();
    const running = ctl.run(ac.signal);
    const cidrs = await podSubnetFromControlPlane({ client, nodeName: 'edge-1', dataDir: dir, logger: silentLogger(), pollMs: 20 });
    assert.deepEqual(cidrs, ['10.244.0.0/24', 'fd00:10:244::/64']);
    assert.equal((await readFile(join(dir, POD_CIDR_FILE), 'utf8')).trim(), '10.244.0.0/24,fd00:10:244::/64');
    ac.abort();
    await running;
    const offline = new HttpKubeClient({ server: `https://127.0.0.1:${await closedPort()}`, userAgent: 'pod-subnet-test' });
    try {
      assert.deepEqual(await podSubnetFromControlPlane({ client: offline, nodeName: 'edge-1', dataDir: dir, logger: silentLogger(), timeoutMs: 60_000 }), cidrs);
    } finally {
      await offline.close();
    }
  });
});

test('the cloud unreachable: the remembered podCIDR is used at once; with none, the fallback after the bounded wait', async () => {
  await withDir(async (dir) => {
    const client = new HttpKubeClient({ server: `https://127.0.0.1:${await closedPort()}`, userAgent: 'pod-subnet-test' });
    try {
      await writeFile(join(dir, POD_CIDR_FILE), '10.244.7.0/24\n');
      assert.deepEqual(await podSubnetFromControlPlane({ client, nodeName: 'edge-1', dataDir: dir, logger: silentLogger(), timeoutMs: 60_000 }), ['10.244.7.0/24']);
      await rm(join(dir, POD_CIDR_FILE));
      assert.deepEqual(await podSubnetFromControlPlane({ client, nodeName: 'edge-1', dataDir: dir, logger: silentLogger(), timeoutMs: 300, pollMs: 50 }), [FALLBACK_POD_SUBNET]);
    } finally {
      await client.close();
    }
  });
});

test('a cloud that accepts connections but never answers: the remembered podCIDR within the 2 s bound, not the request timeout', async () => {
  await withDir(async (dir) => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const client = new HttpKubeClient({ server: `http://127.0.0.1:${(silent.address() as { port: number }).port}`, userAgent: 'pod-subnet-test' });
    try {
      await writeFile(join(dir, POD_CIDR_FILE), '10.244.9.0/24\n');
      const t0 = Date.now();
      assert.deepEqual(await podSubnetFromControlPlane({ client, nodeName: 'edge-1', dataDir: dir, logger: silentLogger() }), ['10.244.9.0/24']);
      const took = Date.now() - t0;
      assert.ok(took >= 1_900 && took < 10_000, `remembered range after ${took} ms`);
    } finally {
      await client.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

test('no IPAM controller: the bounded wait ends in the fallback', async () => {
  await withDir(async (dir) => {
    const client = new FakeKubeClient();
    assert.deepEqual(await podSubnetFromControlPlane({ client, nodeName: 'lonely', dataDir: dir, logger: silentLogger(), timeoutMs: 200, pollMs: 20 }), [FALLBACK_POD_SUBNET]);
    // the Node exists for the agent to adopt
    assert.equal((await client.get<Node & KubeObject>(Resources.nodes, 'lonely')).metadata.name, 'lonely');
  });
});
