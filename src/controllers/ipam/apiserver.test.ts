/** The controller and the node's pod-subnet helper against the real apiserver, in process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, testToken } from '../../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../../client/http-client.ts';
import { Resources } from '../../client/resources.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { podSubnetFromControlPlane } from '../../cli/pod-subnet.ts';
import type { NodeObject } from '../common/types.ts';
import { NodeIpamController } from './controller.ts';

test('two nodes, each under its own identity, get distinct podCIDRs from the controller; podCIDR then stays fixed', async () => {
  const srv = await startTestServer();
  const dir = await mkdtemp(join(tmpdir(), 'hedge-ipam-api-'));
  const admin = new HttpKubeClient({ server: srv.url, token: testToken });
  const ac = new AbortController();
  const ctl = new NodeIpamController({ client: admin, logger: silentLogger(), clusterCidr: '10.244.0.0/16', nodeCidrMaskSize: 24 });
  const running = ctl.run(ac.signal);
  try {
    const got: string[] = [];
    for (const nodeName of ['edge-1', 'edge-2']) {
      const client = new HttpKubeClient({ server: srv.url, token: `node-${nodeName}` });
      try {
        const dataDir = join(dir, nodeName);
        await mkdir(dataDir);
        got.push(...(await podSubnetFromControlPlane({ client, nodeName, dataDir, logger: silentLogger(), pollMs: 50 })));
      } finally {
        await client.close();
      }
    }
    assert.deepEqual(got.sort(), ['10.244.0.0/24', '10.244.1.0/24']);
    const n = await admin.get<NodeObject>(Resources.nodes, 'edge-1');
    assert.deepEqual(n.spec?.podCIDRs, [n.spec?.podCIDR]);
    // validation keeps an assigned range: a second assignment is refused
    await assert.rejects(admin.patch(Resources.nodes, 'edge-1', 'merge', { spec: { podCIDR: '10.244.9.0/24' } }), (e: unknown) => isHedgeError(e, 'Invalid'));
  } finally {
    ac.abort();
    await running;
    await admin.close();
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  }
});
