import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeClock } from '../../client/clock.ts';
import { FakeKubeClient } from '../../client/fake-client.ts';
import { Resources } from '../../client/resources.ts';
import { silentLogger } from '../../lib/log.ts';
import { FakeMounter } from './mounter.ts';
import { setUpPodVolumes, volumeDirsAhead } from './set-up.ts';
import { tearDownPodVolumes } from './tear-down.ts';
import type { TokenCache, VolumeContext } from './types.ts';
import type { KubeObject } from '../../api/object.ts';
import type { ResourceTarget, WriteOptions } from '../../client/types.ts';
import { HedgeError } from '../../lib/errors.ts';

describe('pod volumes', () => {
  let dir: string;
  const client = new FakeKubeClient();
  const mounter = new FakeMounter();
  const clock = new FakeClock();
  const warnings: string[] = [];
  const ctx = (pod: Pod): VolumeContext => ({
    pod, dataDir: dir, client, mounter, logger: silentLogger(), clock, nodeName: 'n', signal: new AbortController().signal,
    warn: (r, m) => warnings.push(`${r}: ${m}`),
  });
  const pod = (volumes: unknown[]): Pod => ({ metadata: { name: 'p', namespace: 'default', uid: 'uid-1', labels: { app: 'web', tier: 'x"y' } }, spec: { containers: [], volumes } as Pod['spec'] });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-vol-'));
    await client.create(Resources.configmaps, { metadata: { name: 'cm', namespace: 'default' }, data: { 'a.conf': 'A', b: 'B' } });
    await client.create(Resources.secrets, { metadata: { name: 's', namespace: 'default' }, data: { token: Buffer.from('t0p').toString('base64') } });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('emptyDir on disk and in memory (tmpfs with sizeLimit), cleaned up with the pod', async () => {
    const v = await setUpPodVolumes(ctx(pod([{ name: 'scratch', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }])));
    assert.equal(v.get('scratch')?.hostPath, join(dir, 'pods/uid-1/volumes/empty-dir/scratch'));
    assert.ok((await stat(v.get('scratch')!.hostPath)).isDirectory());
    assert.equal(mounter.mounted.get(v.get('mem')!.hostPath), 64 * 1024 * 1024);
    await tearDownPodVolumes({ dataDir: dir, uid: 'uid-1', mounter, signal: new AbortController().signal });
    assert.equal(mounter.mounted.size, 0);
    await assert.rejects(stat(join(dir, 'pods/uid-1')));
  });

  it('volumeDirsAhead: the directories set-up fills, made empty, when every volume may be filled after create; none otherwise', async () => {
    const p = pod([{ name: 'cfg', configMap: { name: 'cm' } }, { name: 'tok', projected: { sources: [] } }, { name: 'scratch', emptyDir: {} }]);
    const ahead = volumeDirsAhead(dir, p);
    assert.ok(ahead);
    const v = await setUpPodVolumes(ctx(p));
    for (const [name, pv] of v) {
      assert.deepEqual(ahead.get(name), pv, name);
    }
    assert.equal(await readFile(join(ahead.get('cfg')!.hostPath, 'b'), 'utf8'), 'B');
    await tearDownPodVolumes({ dataDir: dir, uid: 'uid-1', mounter, signal: new AbortController().signal });
    const fresh = volumeDirsAhead(dir, pod([{ name: 'cfg', secret: { secretName: 's' } }]));
    assert.deepEqual((await readdir(fresh!.get('cfg')!.hostPath)), []);
    assert.equal(volumeDirsAhead(dir, pod([{ name: 'cfg', configMap: { name: 'cm' } }, { name: 'mem', emptyDir: { medium: 'Memory' } }])), undefined);
    assert.equal(volumeDirsAhead(dir, pod([{ name: 'h', hostPath: { path: '/etc' } }])), undefined);
    assert.equal(volumeDirsAhead(dir, pod([{ name: 'c', persistentVolumeClaim: { claimName: 'x' } }])), undefined);
    await tearDownPodVolumes({ dataDir: dir, uid: 'uid-1', mounter, signal: new AbortController().signal });
  });

  it('configMap with items/mode and atomic ..data swap on refresh', async () => {
    const p = pod([{ name: 'cfg', configMap: { name: 'cm', items: [{ key: 'a.conf', path: 'conf/a.conf', mode: 0o600 }] } }]);
    const v = await setUpPodVolumes(ctx(p));
    const root = v.get('cfg')!.hostPath;
    assert.equal(v.get('cfg')?.readOnly, true);
    assert.equal(await readFile(join(root, 'conf/a.conf'), 'utf8'), 'A');
    assert.equal((await stat(join(root, 'conf/a.conf'))).mode & 0o777, 0o600);
    assert.ok((await lstat(join(root, 'conf'))).isSymbolicLink());
    const first = await readlink(join(root, '..data'));
    await client.patch(Resources.configmaps, 'cm', 'merge', { data: { 'a.conf': 'A2' } }, { namespace: 'default' });
    clock.advance(1000);
    await setUpPodVolumes(ctx(p));
    assert.equal(await readFile(join(root, 'conf/a.conf'), 'utf8'), 'A2');
    const second = await readlink(join(root, '..data'));
    assert.notEqual(first, second);
    await assert.rejects(stat(join(root, first)), 'old payload dir removed');
  });

  it('a missing configMap fails unless optional', async () => {
    await assert.rejects(setUpPodVolumes(ctx(pod([{ name: 'x', configMap: { name: 'nope' } }]))), /configmap "nope" not found/);
    const v = await setUpPodVolumes(ctx(pod([{ name: 'x', configMap: { name: 'nope', optional: true } }])));
    assert.ok(v.get('x'));
  });

  it('secret, downwardAPI and projected (token skipped with a warning when TokenRequest is unavailable)', async () => {
    const v = await setUpPodVolumes(
      ctx(
        pod([
          { name: 'sec', secret: { secretName: 's', defaultMode: 0o400 } },
          { name: 'dw', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
          { name: 'proj', projected: { sources: [{ serviceAccountToken: { path: 'token' } }, { configMap: { name: 'cm', items: [{ key: 'b', path: 'b' }] } }] } },
        ]),
      ),
    );
    assert.equal(await readFile(join(v.get('sec')!.hostPath, 'token'), 'utf8'), 't0p');
    assert.equal((await stat(join(v.get('sec')!.hostPath, 'token'))).mode & 0o777, 0o400);
    assert.equal(await readFile(join(v.get('dw')!.hostPath, 'labels'), 'utf8'), 'app="web"\ntier="x\\"y"');
    assert.equal(await readFile(join(v.get('dw')!.hostPath, 'name'), 'utf8'), 'p');
    assert.equal(await readFile(join(v.get('proj')!.hostPath, 'b'), 'utf8'), 'B');
    await assert.rejects(stat(join(v.get('proj')!.hostPath, 'token')));
    assert.ok(warnings.some((w) => w.startsWith('FailedMount: serviceAccountToken')));
  });

  it('a projected token is re-requested at 80% of its life, and kept while renewal fails', async () => {
    let issued = 0;
    let failing = false;
    const tokenClient = new (class extends FakeKubeClient {
      override async create<T extends KubeObject = KubeObject>(res: ResourceTarget, obj: T, opts?: WriteOptions): Promise<T> {
        if ('plural' in res && res.plural.endsWith('/token')) {
          if (failing) throw new HedgeError('Unavailable', 'cloud unreachable');
          issued++;
          return { ...obj, status: { token: `tok-${issued}`, expirationTimestamp: new Date(clock.now() + 1000_000).toISOString() } } as T;
        }
        return super.create(res, obj, opts);
      }
    })();
    const tokens: TokenCache = new Map();
    const p = pod([{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 1000 } }] } }]);
    const c = (): VolumeContext => ({ ...ctx(p), client: tokenClient, tokens });
    const read = async (): Promise<string> => readFile(join((await setUpPodVolumes(c())).get('tok')!.hostPath, 'token'), 'utf8');
    assert.equal(await read(), 'tok-1');
    clock.advance(700_000);
    assert.equal(await read(), 'tok-1', 'younger than 80%: reused');
    clock.advance(150_000);
    assert.equal(await read(), 'tok-2', 'past 80%: renewed');
    failing = true;
    clock.advance(850_000);
    assert.equal(await read(), 'tok-2', 'renewal failing, token still valid: kept');
    clock.advance(200_000);
    await assert.rejects(stat(join((await setUpPodVolumes(c())).get('tok')!.hostPath, 'token')), 'an expired token is not kept');
  });

  it('hostPath type checks', async () => {
    const f = join(dir, 'afile');
    await writeFile(f, 'x');
    await setUpPodVolumes(ctx(pod([{ name: 'h', hostPath: { path: f, type: 'File' } }])));
    await assert.rejects(setUpPodVolumes(ctx(pod([{ name: 'h', hostPath: { path: f, type: 'Directory' } }]))), /is not a directory/);
    const created = join(dir, 'made/here');
    await setUpPodVolumes(ctx(pod([{ name: 'h', hostPath: { path: created, type: 'DirectoryOrCreate' } }])));
    assert.ok((await stat(created)).isDirectory());
    await assert.rejects(setUpPodVolumes(ctx(pod([{ name: 'h', hostPath: { path: f, type: 'Socket' } }]))), /not a socket/);
  });
});
