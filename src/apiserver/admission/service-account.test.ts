import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { builtinResources } from '../../api/builtin/builtin-resources.ts';
import type { KubeObject } from '../../api/object.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { MemoryStore } from '../../store/index.ts';
import { CountingStore, startTestServer, type TestServer } from '../testing/test-server.ts';
import { serviceAccountPlugin } from './service-account.ts';
import type { AdmissionRequest } from './types.ts';

interface Out {
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { field: string; reason: string; message: string }[] };
  metadata?: { name?: string };
  spec?: Pod['spec'];
}

describe('ServiceAccount admission', () => {
  let t: TestServer;
  const send = (method: string, path: string, body?: unknown, type = 'application/json') =>
    t.json<Out>(path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': type } });
  const post = (body: unknown, ns = 'default') => send('POST', `/api/v1/namespaces/${ns}/pods`, body);
  const create = async (body: unknown, ns = 'default'): Promise<Pod> => {
    const r = await post(body, ns);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as Pod;
  };
  const account = async (name: string, extra: Record<string, unknown> = {}, ns = 'default') => {
    const r = await send('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name }, ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };
  const pod = (name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...metadata },
    spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
  });
  const refused = (r: { status: number; body: Out }, message: string) => {
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'Forbidden');
    assert.equal(r.body.message, message);
  };

  before(async () => {
    t = await startTestServer();
  });
  after(() => t?.close());

  it('mounts the token, kube-root-ca.crt and the namespace at /var/run/secrets/kubernetes.io/serviceaccount in every container', async () => {
    const p = await create(pod('plain', { initContainers: [{ name: 'i', image: 'x' }] }));
    const vol = p.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access-'));
    assert.match(vol?.name ?? '', /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(vol?.projected?.sources, [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ]);
    assert.equal(vol?.projected?.defaultMode, 0o644);
    for (const c of [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])]) {
      assert.deepEqual(c.volumeMounts, [{ name: vol?.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }], c.name);
    }
    assert.equal(p.spec?.serviceAccountName, 'default');
    assert.equal(p.spec?.imagePullSecrets, undefined, 'the default account has none to give');
  });

  it('not when the pod or its service account says automountServiceAccountToken: false, nor for a container with its own mount there', async () => {
    assert.equal((await create(pod('opted-out', { automountServiceAccountToken: false }))).spec?.volumes, undefined);
    await account('quiet', { automountServiceAccountToken: false });
    assert.equal((await create(pod('quiet-sa', { serviceAccountName: 'quiet' }))).spec?.volumes, undefined);
    // the pod's own true wins over the account's false
    assert.equal((await create(pod('asks', { serviceAccountName: 'quiet', automountServiceAccountToken: true }))).spec?.volumes?.length, 1);
    const own = await create(pod('own', {
      volumes: [{ name: 'mine', emptyDir: {} }],
      containers: [{ name: 'has', image: 'x', volumeMounts: [{ name: 'mine', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }] }, { name: 'lacks', image: 'x' }],
    }));
    assert.deepEqual(own.spec?.containers?.[0].volumeMounts?.map((m) => m.name), ['mine']);
    assert.match(own.spec?.containers?.[1].volumeMounts?.[0].name ?? '', /^kube-api-access-/);
  });

  it('a pod copied from another keeps its kube-api-access volume: the containers lacking the mount get that one, no second volume', async () => {
    const first = await create(pod('original'));
    const vol = first.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access-'));
    const copy = await create(pod('copy', { volumes: [vol], containers: [{ name: 'c', image: 'x' }, { name: 'd', image: 'x' }] }));
    assert.deepEqual(copy.spec?.volumes?.map((v) => v.name), [vol?.name]);
    assert.deepEqual(copy.spec?.containers?.map((c) => c.volumeMounts?.[0]?.name), [vol?.name, vol?.name]);
  });

  it('refuses a pod whose service account does not exist, with upstream\'s message, whether or not a token is mounted', async () => {
    for (const [name, spec] of [['ghost', { serviceAccountName: 'nobody' }], ['ghost-quiet', { serviceAccountName: 'nobody', automountServiceAccountToken: false }]] as const) {
      const r = await post(pod(name, spec));
      refused(r, `pods "${name}" is forbidden: error looking up service account default/nobody: serviceaccount "nobody" not found`);
      assert.deepEqual(r.body.details?.causes, [{ field: 'spec.serviceAccountName', reason: 'FieldValueNotFound', message: 'serviceaccount "nobody" not found' }]);
      assert.equal(r.body.details?.name, name);
      assert.equal((await send('GET', `/api/v1/namespaces/default/pods/${name}`)).status, 404, 'nothing stored');
    }
    // the deprecated alias names it too
    refused(await post(pod('alias', { serviceAccount: 'nobody' })), 'pods "alias" is forbidden: error looking up service account default/nobody: serviceaccount "nobody" not found');
    // a generated name is in the message, as it is in a ReplicaSet's FailedCreate event upstream
    const gen = await post({ ...pod('', { serviceAccountName: 'nobody' }), metadata: { generateName: 'web-' } });
    assert.equal(gen.status, 403);
    assert.match(gen.body.message ?? '', /^pods "web-[a-z0-9]{5}" is forbidden: error looking up service account default\/nobody/);
    // once the account is there, the same pod is admitted
    await account('nobody');
    assert.equal((await create(pod('ghost', { serviceAccountName: 'nobody' }))).spec?.serviceAccountName, 'nobody');
  });

  it('a new namespace has its default account before the create returns; one deleted comes back, so pods are never locked out', async () => {
    assert.equal((await send('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh' } })).status, 201);
    await create(pod('first'), 'fresh');
    assert.equal((await send('DELETE', '/api/v1/namespaces/fresh/serviceaccounts/default')).status, 200);
    assert.equal((await send('GET', '/api/v1/namespaces/fresh/serviceaccounts/default')).status, 200, 'made again');
    await create(pod('second'), 'fresh');
    // another account deleted stays deleted
    await account('temp', {}, 'fresh');
    assert.equal((await send('DELETE', '/api/v1/namespaces/fresh/serviceaccounts/temp')).status, 200);
    assert.equal((await send('GET', '/api/v1/namespaces/fresh/serviceaccounts/temp')).status, 404);
  });

  it('copies the account\'s imagePullSecrets into a pod that has none, never over the pod\'s own', async () => {
    await account('puller', { imagePullSecrets: [{ name: 'reg-a' }, { name: 'reg-b' }] });
    assert.deepEqual((await create(pod('pulls', { serviceAccountName: 'puller' }))).spec?.imagePullSecrets, [{ name: 'reg-a' }, { name: 'reg-b' }]);
    assert.deepEqual((await create(pod('own-pull', { serviceAccountName: 'puller', imagePullSecrets: [{ name: 'mine' }] }))).spec?.imagePullSecrets, [{ name: 'mine' }]);
  });

  it('kubernetes.io/enforce-mountable-secrets: "true" admits only the Secrets the account lists, in volumes, env, envFrom and imagePullSecrets', async () => {
    await account('strict', { metadata: { name: 'strict', annotations: { 'kubernetes.io/enforce-mountable-secrets': 'true' } }, secrets: [{ name: 'ok' }], imagePullSecrets: [{ name: 'pull-ok' }] });
    const sa = { serviceAccountName: 'strict' };
    const ok = await create(pod('strict-ok', {
      ...sa,
      volumes: [{ name: 's', secret: { secretName: 'ok' } }],
      containers: [{ name: 'c', image: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'ok', key: 'k' } } }], envFrom: [{ secretRef: { name: 'ok' } }] }],
    }));
    assert.deepEqual(ok.spec?.imagePullSecrets, [{ name: 'pull-ok' }]);
    const cases: [string, Record<string, unknown>, string, string][] = [
      ['vol', { volumes: [{ name: 's', secret: { secretName: 'other' } }] }, 'volume with secret.secretName="other" is not allowed because service account strict does not reference that secret', 'spec.volumes[0].secret.secretName'],
      ['env', { containers: [{ name: 'c', image: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'other', key: 'k' } } }] }] }, 'container c with envVar A referencing secret.secretName="other" is not allowed because service account strict does not reference that secret', 'spec.containers[0].env[0].valueFrom.secretKeyRef.name'],
      ['envfrom', { initContainers: [{ name: 'i', image: 'x', envFrom: [{ secretRef: { name: 'other' } }] }] }, 'init container i with envFrom referencing secret.secretName="other" is not allowed because service account strict does not reference that secret', 'spec.initContainers[0].envFrom[0].secretRef.name'],
      ['pull', { imagePullSecrets: [{ name: 'pull-other' }] }, 'imagePullSecrets[0].name="pull-other" is not allowed because service account strict does not reference that imagePullSecret', 'spec.imagePullSecrets[0].name'],
    ];
    for (const [name, spec, message, field] of cases) {
      const r = await post(pod(`strict-${name}`, { ...sa, ...spec }));
      refused(r, `pods "strict-${name}" is forbidden: ${message}`);
      assert.deepEqual(r.body.details?.causes?.map((c) => [c.field, c.reason]), [[field, 'FieldValueForbidden']]);
    }
    // without the annotation (or with it false) nothing is held back
    await account('lax', { metadata: { name: 'lax', annotations: { 'kubernetes.io/enforce-mountable-secrets': 'false' } } });
    await create(pod('lax-any', { serviceAccountName: 'lax', volumes: [{ name: 's', secret: { secretName: 'other' } }] }));
  });

  it('mirror pods: left without an account or token, and refused one, a Secret or a token projection', async () => {
    const mirror = { 'kubernetes.io/config.mirror': 'abc' };
    const p = await create(pod('static-web', {}, { annotations: mirror }));
    assert.equal(p.spec?.serviceAccountName, undefined);
    assert.equal(p.spec?.serviceAccount, undefined);
    assert.equal(p.spec?.volumes, undefined);
    assert.equal(p.spec?.containers?.[0].volumeMounts, undefined);
    const cases: [string, Record<string, unknown>, string][] = [
      ['sa', { serviceAccountName: 'default' }, 'a mirror pod may not reference service accounts'],
      ['secret', { volumes: [{ name: 's', secret: { secretName: 'x' } }] }, 'a mirror pod may not reference secrets'],
      ['env', { containers: [{ name: 'c', image: 'x', envFrom: [{ secretRef: { name: 'x' } }] }] }, 'a mirror pod may not reference secrets'],
      ['token', { volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }] }, 'a mirror pod may not use ServiceAccountToken volume projections'],
    ];
    for (const [name, spec, message] of cases) refused(await post(pod(`static-${name}`, spec, { annotations: mirror })), `pods "static-${name}" is forbidden: ${message}`);
  });

  describe('pods/ephemeralcontainers', () => {
    const addDebug = (podName: string, container: Record<string, unknown>) =>
      send('PATCH', `/api/v1/namespaces/default/pods/${podName}/ephemeralcontainers`, { spec: { ephemeralContainers: [{ image: 'x', ...container }] } }, 'application/strategic-merge-patch+json');

    it('nothing is mounted into an ephemeral container unasked (upstream), and it may name the pod\'s kube-api-access volume itself', async () => {
      const p = await create(pod('debugged'));
      const vol = p.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access-'))?.name;
      const plain = await addDebug('debugged', { name: 'dbg' });
      assert.equal(plain.status, 200, JSON.stringify(plain.body));
      assert.equal(plain.body.spec?.ephemeralContainers?.[0].volumeMounts, undefined);
      const mount = { name: vol, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };
      const withToken = await addDebug('debugged', { name: 'dbg-token', volumeMounts: [mount] });
      assert.equal(withToken.status, 200, JSON.stringify(withToken.body));
      assert.deepEqual(withToken.body.spec?.ephemeralContainers?.find((e) => e.name === 'dbg-token')?.volumeMounts, [mount]);
      assert.deepEqual(withToken.body.spec?.volumes?.map((v) => v.name), [vol], 'no volume added');
    });

    it('refused while the pod\'s account is missing; with enforce-mountable-secrets its env and envFrom are held to the account\'s Secrets', async () => {
      await account('dbg-sa', { metadata: { name: 'dbg-sa', annotations: { 'kubernetes.io/enforce-mountable-secrets': 'true' } }, secrets: [{ name: 'ok' }] });
      await create(pod('held', { serviceAccountName: 'dbg-sa' }));
      const added = await addDebug('held', { name: 'e-ok', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'ok', key: 'k' } } }] });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      const okOne = added.body.spec?.ephemeralContainers?.[0];
      const env = await addDebug('held', { name: 'e-env', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'other', key: 'k' } } }] });
      refused(env, 'pods "held" is forbidden: ephemeral container e-env with envVar A referencing secret.secretName="other" is not allowed because service account dbg-sa does not reference that secret');
      // the whole list, so the new one's index is known
      const envFrom = await send('PATCH', '/api/v1/namespaces/default/pods/held/ephemeralcontainers', { spec: { ephemeralContainers: [okOne, { name: 'e-from', image: 'x', envFrom: [{ secretRef: { name: 'other' } }] }] } }, 'application/merge-patch+json');
      refused(envFrom, 'pods "held" is forbidden: ephemeral container e-from with envFrom referencing secret.secretName="other" is not allowed because service account dbg-sa does not reference that secret');
      assert.deepEqual(envFrom.body.details?.causes?.map((c) => c.field), ['spec.ephemeralContainers[1].envFrom[0].secretRef.name']);
      assert.equal((await send('DELETE', '/api/v1/namespaces/default/serviceaccounts/dbg-sa')).status, 200);
      refused(await addDebug('held', { name: 'e-late' }), 'pods "held" is forbidden: error looking up service account default/dbg-sa: serviceaccount "dbg-sa" not found');
    });
  });
});

describe('ServiceAccount admission: the default account that comes just after its namespace', () => {
  const podsDef = builtinResources().find((d) => d.group === '' && d.plural === 'pods');
  const request = (spec: Record<string, unknown> = {}): AdmissionRequest => ({
    operation: 'CREATE',
    def: podsDef!,
    subresource: '',
    namespace: 'new',
    name: 'p',
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'new' }, spec: { containers: [{ name: 'c', image: 'x' }], ...spec } },
    user: { username: 'admin', groups: ['system:masters'] },
    dryRun: false,
    signal: new AbortController().signal,
  });
  /** an account store that has `default` only from the `from`-th look-up on */
  const arriving = (from: number) => {
    const asked: string[] = [];
    return {
      asked,
      getServiceAccount: async (ns: string, name: string): Promise<KubeObject | undefined> => {
        asked.push(name);
        return name === 'default' && asked.length >= from ? { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } } : undefined;
      },
    };
  };
  const retry = { attempts: 4, intervalMs: () => 1 };

  it('is looked for again, up to the attempts given, before the pod is refused', async () => {
    const late = arriving(3);
    const req = request();
    await serviceAccountPlugin({ ...late, defaultAccountRetry: retry }).mutate?.(req);
    assert.deepEqual(late.asked, ['default', 'default', 'default']);
    assert.equal((req.object?.spec as Pod['spec'])?.serviceAccountName, 'default');
    const never = arriving(Infinity);
    await assert.rejects(
      Promise.resolve(serviceAccountPlugin({ ...never, defaultAccountRetry: retry }).mutate?.(request())),
      (err: unknown) => isHedgeError(err, 'Forbidden') && err.message === 'pods "p" is forbidden: error looking up service account new/default: serviceaccount "default" not found',
    );
    assert.equal(never.asked.length, 4);
  });

  it('a named account is looked up once: nothing makes it on its own', async () => {
    const store = arriving(Infinity);
    await assert.rejects(Promise.resolve(serviceAccountPlugin({ ...store, defaultAccountRetry: retry }).mutate?.(request({ serviceAccountName: 'robot' }))), /serviceaccount "robot" not found/);
    assert.deepEqual(store.asked, ['robot']);
  });

  it('a pod create that is cancelled stops waiting', async () => {
    const ac = new AbortController();
    const req = { ...request(), signal: ac.signal };
    const pending = Promise.resolve(serviceAccountPlugin({ ...arriving(Infinity), defaultAccountRetry: { attempts: 1000, intervalMs: () => 60_000 } }).mutate?.(req));
    ac.abort();
    await assert.rejects(pending);
  });
});

describe('ServiceAccount admission: a server started over a namespace without its default account', () => {
  it('makes the account at start, so the namespace\'s pods are admitted', async () => {
    // the first server's close must not close the store the second one opens
    const store = new (class extends CountingStore {
      override close = async (): Promise<void> => undefined;
    })(new MemoryStore());
    const first = await startTestServer({ store });
    let second: TestServer | undefined;
    try {
      assert.equal((await first.json('/api/v1/namespaces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'old' } }) })).status, 201);
      const saDef = first.server.registry.defFor('', 'serviceaccounts');
      // as a store written before the account was made, or a create that failed
      await store.delete(first.server.registry.storeFor(saDef!).key('old', 'default'));
      await first.close();
      second = await startTestServer({ store });
      assert.equal((await second.json('/api/v1/namespaces/old/serviceaccounts/default')).status, 200);
      const r = await second.json('/api/v1/namespaces/old/pods', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } }) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    } finally {
      await second?.close();
    }
  });
});
