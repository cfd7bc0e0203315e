import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './testing/test-server.ts';

/**
 * Malformed input for every workload type: each leaf and object of a valid body replaced by
 * values of the wrong type or range, sent as create and as merge patch. Every answer is a
 * Status (4xx) or a success; never 5xx; a refused write leaves nothing behind.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const podTemplate = (labels: Record<string, string>, restartPolicy = 'Always'): Json => ({
  metadata: { labels },
  spec: { restartPolicy, containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'b' }] }] },
});

const TYPES: { path: string; kind: string; apiVersion: string; body: Json }[] = [
  {
    path: '/apis/apps/v1/namespaces/default/deployments',
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    body: { spec: { replicas: 2, minReadySeconds: 1, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } }, selector: { matchLabels: { app: 'x' } }, template: podTemplate({ app: 'x' }) } },
  },
  { path: '/apis/apps/v1/namespaces/default/replicasets', apiVersion: 'apps/v1', kind: 'ReplicaSet', body: { spec: { replicas: 1, selector: { matchLabels: { app: 'x' } }, template: podTemplate({ app: 'x' }) } } },
  {
    path: '/apis/apps/v1/namespaces/default/daemonsets',
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    body: { spec: { selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['x'] }] }, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }, template: podTemplate({ app: 'x' }) } },
  },
  { path: '/apis/apps/v1/namespaces/default/statefulsets', apiVersion: 'apps/v1', kind: 'StatefulSet', body: { spec: { replicas: 1, serviceName: 's', selector: { matchLabels: { app: 'x' } }, template: podTemplate({ app: 'x' }) } } },
  { path: '/apis/apps/v1/namespaces/default/controllerrevisions', apiVersion: 'apps/v1', kind: 'ControllerRevision', body: { revision: 1, data: { a: 1 } } },
  { path: '/apis/batch/v1/namespaces/default/jobs', apiVersion: 'batch/v1', kind: 'Job', body: { spec: { completions: 2, parallelism: 1, backoffLimit: 3, activeDeadlineSeconds: 60, template: podTemplate({}, 'Never') } } },
  {
    path: '/apis/batch/v1/namespaces/default/cronjobs',
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    body: { spec: { schedule: '*/5 * * * *', concurrencyPolicy: 'Forbid', jobTemplate: { spec: { template: podTemplate({}, 'OnFailure') } } } },
  },
  { path: '/apis/policy/v1/namespaces/default/poddisruptionbudgets', apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', body: { spec: { minAvailable: '50%', selector: { matchLabels: { app: 'x' } } } } },
  {
    path: '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices',
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    body: { addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  },
  {
    path: '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies',
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    body: {
      spec: {
        podSelector: { matchLabels: { app: 'x' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'c' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ protocol: 'TCP', port: 80, endPort: 90 }, { port: 'http' }] }],
        egress: [{ to: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] } }], ports: [{ port: 53, protocol: 'UDP' }] }],
      },
    },
  },
  {
    path: '/apis/networking.k8s.io/v1/namespaces/default/ingresses',
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    body: {
      spec: {
        ingressClassName: 'nginx',
        defaultBackend: { resource: { apiGroup: 'k8s.example.com', kind: 'Bucket', name: 'static' } },
        tls: [{ hosts: ['*.example.com'], secretName: 'tls' }],
        rules: [{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }, { path: '/x', pathType: 'Exact', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }],
      },
    },
  },
  {
    path: '/apis/networking.k8s.io/v1/ingressclasses',
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    body: { spec: { controller: 'example.com/lb', parameters: { apiGroup: 'k8s.example.com', kind: 'LBConfig', name: 'lb', scope: 'Namespace', namespace: 'lb' } } },
  },
  {
    path: '/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions',
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    body: { spec: { config: '{"cniVersion":"1.0.0","type":"macvlan","master":"eth0","ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}' } },
  },
  // a custom resource: the schema's validation, pruning and defaulting get the same treatment
  {
    path: '/apis/stable.example.com/v1/namespaces/default/crontabs',
    apiVersion: 'stable.example.com/v1',
    kind: 'CronTab',
    body: { spec: { cronSpec: '* * * * */5', image: 'x', replicas: 2, size: 'small', tags: ['a'], port: 80 } },
  },
];

const CRONTAB_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'crontabs.stable.example.com' },
  spec: {
    group: 'stable.example.com',
    scope: 'Namespaced',
    names: { plural: 'crontabs', singular: 'crontab', kind: 'CronTab', shortNames: ['ct'] },
    versions: [{
      name: 'v1', served: true, storage: true, subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
      schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', required: ['cronSpec'], properties: {
        cronSpec: { type: 'string', pattern: '^[0-9*/ ]+$' }, image: { type: 'string', maxLength: 20 }, replicas: { type: 'integer', minimum: 0, maximum: 10, default: 1 },
        size: { type: 'string', enum: ['small', 'large'] }, tags: { type: 'array', items: { type: 'string' } }, port: { 'x-kubernetes-int-or-string': true },
      } }, status: { type: 'object', properties: { replicas: { type: 'integer' } } } } } },
    }],
  },
};

const BAD: Json[] = [null, 'text', -1, 2 ** 53, 1.5, true, [], {}, [1, 'x'], { '': null }];

/** every path into the body (objects, arrays, leaves) */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push([...prefix, i], ...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([...prefix, k], ...paths(x, [...prefix, k]));
  return out;
}

function setAt(root: Json, path: (string | number)[], value: Json): Json {
  const copy = structuredClone(root);
  let cur = copy as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, Json>;
  cur[path[path.length - 1]] = value;
  return copy;
}

describe('malformed input for the workload types', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
    const crd = await send('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', CRONTAB_CRD);
    assert.equal(crd.status, 201, JSON.stringify(crd.body));
    const deadline = Date.now() + 10_000;
    while ((await send('GET', '/apis/stable.example.com/v1/namespaces/default/crontabs', undefined)).status !== 200) {
      assert.ok(Date.now() < deadline, 'the CRD is served');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  after(async () => {
    await t.server.close();
  });

  const send = async (method: string, path: string, body: unknown, ct = 'application/json'): Promise<{ status: number; body: { kind?: string; reason?: string; metadata?: { resourceVersion?: string } } }> =>
    t.json(path, { method, headers: { 'content-type': ct }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  for (const type of TYPES) {
    it(`${type.kind}: every mutation answers 2xx or a 4xx Status, and refused writes leave nothing`, async () => {
      let n = 0;
      const valid = { apiVersion: type.apiVersion, kind: type.kind, metadata: { name: 'valid' }, ...(type.body as object) };
      const created = await send('POST', type.path, valid);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const rvHolder = { rv: created.body.metadata?.resourceVersion };
      for (const p of paths(type.body as Json)) {
        for (const bad of BAD) {
          const name = `m${n++}`;
          const body = setAt({ apiVersion: type.apiVersion, kind: type.kind, metadata: { name }, ...(type.body as object) } as Json, p, bad);
          const r = await send('POST', type.path, body);
          assert.ok(r.status < 500, `${type.kind} ${p.join('.')}=${JSON.stringify(bad)} → ${r.status} ${JSON.stringify(r.body)}`);
          if (r.status >= 400) {
            assert.equal(r.body.kind, 'Status', `${p.join('.')}: a Status`);
            assert.ok(r.body.reason, `${p.join('.')}: with a reason`);
            const after = await send('GET', `${type.path}/${name}`, undefined);
            assert.equal(after.status, 404, `${p.join('.')}=${JSON.stringify(bad)}: nothing half-written`);
          } else {
            await send('DELETE', `${type.path}/${name}`, undefined);
          }
          // the same change as a merge patch of the stored object
          const patch = setAt(structuredClone(type.body as Json), p, bad);
          const pr = await send('PATCH', `${type.path}/valid`, patch, 'application/merge-patch+json');
          assert.ok(pr.status < 500, `patch ${type.kind} ${p.join('.')}=${JSON.stringify(bad)} → ${pr.status} ${JSON.stringify(pr.body)}`);
          if (pr.status >= 400) {
            assert.equal(pr.body.kind, 'Status');
            const cur = await send('GET', `${type.path}/valid`, undefined);
            assert.equal(cur.body.metadata?.resourceVersion, rvHolder.rv, `patch ${p.join('.')}: refused patch changed nothing`);
          } else {
            // restore for the next mutation
            await send('DELETE', `${type.path}/valid`, undefined);
            const again = await send('POST', type.path, valid);
            assert.equal(again.status, 201);
            rvHolder.rv = again.body.metadata?.resourceVersion;
          }
        }
      }
      for (const raw of ['{"spec":', '[]', '"x"', '{"metadata":[]}']) {
        const r = await send('POST', type.path, raw);
        assert.ok(r.status >= 400 && r.status < 500, `raw ${raw} → ${r.status}`);
      }
      const scale = type.kind === 'Deployment' || type.kind === 'ReplicaSet' || type.kind === 'StatefulSet' || type.kind === 'CronTab';
      if (scale) {
        for (const bad of [{ spec: { replicas: -1 } }, { spec: { replicas: 'x' } }, { spec: { replicas: 1.5 } }, { spec: [] }, null]) {
          const r = await send('PATCH', `${type.path}/valid/scale`, bad, 'application/merge-patch+json');
          assert.ok(r.status >= 400 && r.status < 500, `scale ${JSON.stringify(bad)} → ${r.status} ${JSON.stringify(r.body)}`);
        }
      }
    });
  }

  it('CustomResourceDefinition: malformed CRDs answer a 4xx Status and create nothing', async () => {
    const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
    const body = { spec: structuredClone(CRONTAB_CRD.spec) } as unknown as Json;
    let n = 0;
    for (const p of paths(body)) {
      for (const bad of BAD) {
        // a fresh group each time, so a mutation that stays valid cannot collide with the last one
        const group = `g${n++}.example.com`;
        const mutated = setAt(setAt(body, ['spec', 'group'], group), p, bad) as { spec: { group?: unknown; names?: { plural?: unknown } } };
        const name = `${String(mutated.spec?.names?.plural)}.${String(mutated.spec?.group)}`;
        const r = await send('POST', path, { apiVersion: CRONTAB_CRD.apiVersion, kind: CRONTAB_CRD.kind, metadata: { name }, ...(mutated as object) });
        assert.ok(r.status < 500, `${p.join('.')}=${JSON.stringify(bad)} → ${r.status} ${JSON.stringify(r.body)}`);
        if (r.status >= 400) {
          assert.equal(r.body.kind, 'Status', `${p.join('.')}: a Status`);
          const after = await send('GET', `${path}/${encodeURIComponent(name)}`, undefined);
          assert.equal(after.status, 404, `${p.join('.')}=${JSON.stringify(bad)}: nothing half-written`);
        }
      }
    }
  });
});
