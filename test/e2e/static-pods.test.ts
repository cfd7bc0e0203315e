/**
 * Static pods with the real `hedge node` (runc, conmon, CNI) against the real `hedge server`:
 * a manifest written into `--pod-manifest-path` runs and gets a Running mirror pod in the cloud;
 * `kubectl delete` of the mirror re-creates it and never restarts the container; an edit replaces
 * the pod; removing the file stops it and deletes the mirror. Then the link to the cloud is cut,
 * the agent killed and restarted, and a static pod written meanwhile still starts (it does not
 * depend on the hub's cache); its mirror appears once the link is back.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { buildTestImages } from '../fixtures/images/build.ts';
import { REPO_ROOT, run, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason, type HedgeNode } from './node-harness.ts';
import { startPartitionedEdge, type PartitionedEdge } from './partitioned-edge.ts';
import { waitUntil } from './pod-checks.ts';
import { buildBundle } from './bundle.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED);
const IMAGE = 'docker.io/hedge/busybox:latest';

const manifest = (name: string, command: string): string => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: { app: ${name} }
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: ${IMAGE}
    imagePullPolicy: Never
    command: ["sh", "-c", ${JSON.stringify(command)}]
`;

describe('static pods: run from files, mirrored in the cloud, offline too', { skip, timeout: 300_000 }, () => {
  let tmp: string;
  let server: HedgeServer;
  let node: HedgeNode;
  let edge: PartitionedEdge;
  let nodeName = '';
  let manifests = '';

  const mirror = async (name: string): Promise<Pod | undefined> => {
    const r = await server.api('GET', `/api/v1/namespaces/default/pods/${name}-${nodeName}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  const running = (p: Pod | undefined): boolean => p?.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running !== undefined;
  const explain = (): string => `node:\n${node.output().split('\n').filter((l) => !l.includes('"component":"lease"')).join('\n').slice(-5000)}`;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hedge-static-e2e-'));
    manifests = join(tmp, 'manifests');
    await mkdir(manifests);
    const [images] = await Promise.all([buildTestImages(join(tmp, 'images')), buildBundle()]);
    edge = await startPartitionedEdge({ letter: 's', octetBase: 232, tmp, nodeArgs: ['--pod-manifest-path', manifests, '--node-lease-duration-seconds', '8', '--log-level', process.env.HEDGE_E2E_NODE_LOG ?? 'info'] });
    ({ server, node, nodeName } = edge);
    const imp = await run(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'image', 'import', images.dockerArchive, '--data-dir', node.dataDir]);
    assert.equal(imp.code, 0, imp.stderr);
  });

  after(async () => {
    await edge?.heal().catch(() => undefined);
    if (manifests) await rm(manifests, { recursive: true, force: true });
    // the node stops the static pods once their files are gone
    if (node?.running()) await waitUntil('static pods stopped', 30_000, async () => ((await node.hostState()).conmonPids.length === 0 ? true : undefined)).catch(() => undefined);
    await edge?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('file → running pod + Running mirror; mirror deleted → re-created, container untouched; edit → replaced; remove → stopped, mirror gone', async () => {
    await writeFile(join(manifests, 'web.yaml'), manifest('web', 'exec sleep 3600'));
    const first = await waitUntil('a Running mirror pod', 60_000, async () => {
      const m = await mirror('web');
      return running(m) ? m : undefined;
    }, explain);
    const hash = first.metadata?.annotations?.['kubernetes.io/config.mirror'];
    assert.match(hash ?? '', /^[0-9a-f]{32}$/);
    assert.equal(first.metadata?.annotations?.['kubernetes.io/config.source'], 'file');
    assert.equal(first.metadata?.annotations?.['kubernetes.io/config.hash'], hash);
    assert.deepEqual(first.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}/${o.controller}`), [`Node/${nodeName}/true`]);
    assert.equal(first.spec?.serviceAccountName, undefined);
    const containerID = first.status?.containerStatuses?.[0]?.containerID;
    assert.ok(containerID);
    assert.equal((await node.hostState()).conmonPids.length, 1);

    // kubectl delete of the mirror: a new mirror, the same container, never restarted
    const del = await server.kubectl(['delete', 'pod', `web-${nodeName}`, '--wait=false']);
    assert.equal(del.code, 0, del.stderr);
    const second = await waitUntil('the mirror re-created with status', 60_000, async () => {
      const m = await mirror('web');
      return m && m.metadata?.uid !== first.metadata?.uid && !m.metadata?.deletionTimestamp && running(m) ? m : undefined;
    }, explain);
    assert.equal(second.status?.containerStatuses?.[0]?.containerID, containerID, 'the same container');
    assert.equal(second.status?.containerStatuses?.[0]?.restartCount, 0);
    assert.equal(second.metadata?.annotations?.['kubernetes.io/config.mirror'], hash);

    // an edit: a new pod (hash) replaces the old one
    await writeFile(join(manifests, 'web.yaml'), manifest('web', 'echo edited; exec sleep 3600'));
    const third = await waitUntil('the mirror of the edited pod Running', 60_000, async () => {
      const m = await mirror('web');
      return m && m.metadata?.annotations?.['kubernetes.io/config.mirror'] !== hash && running(m) ? m : undefined;
    }, explain);
    assert.notEqual(third.status?.containerStatuses?.[0]?.containerID, containerID);
    await waitUntil('only the new container left', 30_000, async () => ((await node.hostState()).conmonPids.length === 1 ? true : undefined), explain);

    // the file goes: the pod stops and the mirror is deleted
    await rm(join(manifests, 'web.yaml'));
    await waitUntil('the mirror deleted', 60_000, async () => ((await mirror('web')) === undefined ? true : undefined), explain);
    await waitUntil('the container stopped', 30_000, async () => ((await node.hostState()).conmonPids.length === 0 ? true : undefined), explain);
  });

  it('with the cloud unreachable and the agent restarted, a static pod still starts; its mirror comes once the link is back', async () => {
    await edge.cut();
    await node.kill9();
    await writeFile(join(manifests, 'offline.yaml'), manifest('offline', 'echo static-offline-marker; exec sleep 3600'));
    const startedAt = Date.now();
    await node.start();
    const logs = join(node.dataDir, 'logs', 'pods');
    await waitUntil('the offline static pod logging', 60_000, async () => {
      const dir = (await readdir(logs).catch(() => [] as string[])).find((d) => d.startsWith(`default_offline-${nodeName}_`));
      if (!dir) return undefined;
      const text = await readFile(join(logs, dir, 'main', '0.log'), 'utf8').catch(() => '');
      return text.includes('static-offline-marker') ? true : undefined;
    }, explain);
    process.stderr.write(`# static pod running ${Date.now() - startedAt} ms after hedge node started with the cloud unreachable\n`);
    assert.equal(await mirror('offline'), undefined, 'no mirror while cut');
    await edge.heal();
    await waitUntil('its mirror Running once the link is back', 90_000, async () => (running(await mirror('offline')) ? true : undefined), explain);
    await rm(join(manifests, 'offline.yaml'));
    await waitUntil('the mirror deleted', 60_000, async () => ((await mirror('offline')) === undefined ? true : undefined), explain);
  });
});
