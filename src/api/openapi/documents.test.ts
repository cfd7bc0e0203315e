import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ResourceDef, Verb } from '../resources/types.ts';
import { groupVersionPath, openapiV2, openapiV3Document, openapiV3Index, servedOpenapiV2, servedOpenapiV3, servedOpenapiV3Index } from './documents.ts';

const ALL: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function rd(p: Partial<ResourceDef> & Pick<ResourceDef, 'group' | 'kind' | 'plural' | 'namespaced'>): ResourceDef {
  return {
    version: 'v1',
    listKind: `${p.kind}List`,
    singular: p.kind.toLowerCase(),
    shortNames: [],
    categories: [],
    verbs: ALL,
    subresources: [],
    hasStatus: false,
    ...p,
  };
}

const RESOURCES: ResourceDef[] = [
  rd({ group: '', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], subresources: ['status', 'binding', 'eviction'], hasStatus: true }),
  rd({ group: '', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], subresources: ['status'], hasStatus: true }),
  rd({ group: '', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] }),
  rd({ group: 'apps', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], subresources: ['status', 'scale'], hasStatus: true }),
  rd({ group: 'coordination.k8s.io', kind: 'Lease', plural: 'leases', namespaced: true }),
];

type Doc = Record<string, unknown>;
const obj = (v: unknown): Doc => v as Doc;

function collectRefs(v: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(v)) for (const x of v) collectRefs(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.add(x);
      else collectRefs(x, out);
    }
  }
  return out;
}

describe('openapiV2', () => {
  it('has every operation of a resource with upstream extensions and write parameters', () => {
    const doc = obj(openapiV2(RESOURCES));
    assert.equal(doc.swagger, '2.0');
    const paths = obj(doc.paths);
    const named = obj(paths['/api/v1/namespaces/{namespace}/pods/{name}']);
    const patch = obj(named.patch);
    assert.equal(patch.operationId, 'patchCoreV1NamespacedPod');
    assert.equal(patch['x-kubernetes-action'], 'patch');
    assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: '', version: 'v1', kind: 'Pod' });
    const names = (patch.parameters as Doc[]).map((p) => p.name);
    for (const n of ['body', 'dryRun', 'fieldManager', 'fieldValidation', 'force']) assert.ok(names.includes(n), n);
    assert.ok((patch.consumes as string[]).includes('application/strategic-merge-patch+json'));
    for (const m of ['get', 'put', 'delete']) assert.ok(named[m], m);
    const coll = obj(paths['/api/v1/namespaces/{namespace}/pods']);
    assert.equal(obj(coll.get)['x-kubernetes-action'], 'list');
    assert.equal(obj(coll.delete)['x-kubernetes-action'], 'deletecollection');
    assert.equal(obj(obj(paths['/api/v1/namespaces/{namespace}/pods/{name}/status']).put).operationId, 'replaceCoreV1NamespacedPodStatus');
    assert.equal(obj(obj(paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale']).get).operationId, 'readAppsV1NamespacedDeploymentScale');
    assert.ok(paths['/api/v1/pods'], 'list for all namespaces');
    assert.ok(paths['/api/v1/watch/nodes/{name}']);
    assert.ok(paths['/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}']);
    assert.equal(obj(obj(paths['/api/v1/nodes/{name}']).get).operationId, 'readCoreV1Node');
    // every reference resolves
    const defs = obj(doc.definitions);
    for (const ref of collectRefs(doc.paths, new Set())) assert.ok(defs[ref.replace('#/definitions/', '')], ref);
  });

  it('is built and serialized once per resource list', () => {
    assert.equal(servedOpenapiV2(RESOURCES), servedOpenapiV2(RESOURCES));
    assert.equal(openapiV2(RESOURCES), openapiV2(RESOURCES));
    assert.equal(JSON.parse(servedOpenapiV2(RESOURCES).json).swagger, '2.0');
  });
});

describe('openapiV3', () => {
  it('indexes each group-version with a hash of its document', () => {
    const index = openapiV3Index(RESOURCES);
    assert.deepEqual(Object.keys(index.paths), ['api/v1', 'apis/apps/v1', 'apis/coordination.k8s.io/v1']);
    const doc = servedOpenapiV3(RESOURCES, 'api/v1');
    assert.ok(doc);
    const hash = createHash('sha512').update(doc.json).digest('hex').toUpperCase();
    assert.equal(index.paths['api/v1'].serverRelativeURL, `/openapi/v3/api/v1?hash=${hash}`);
    assert.equal(servedOpenapiV3Index(RESOURCES).json, JSON.stringify(index));
    assert.equal(openapiV3Document(RESOURCES, 'apis/batch/v1'), undefined);
    assert.equal(groupVersionPath({ group: 'apps', version: 'v1' }), 'apis/apps/v1');
  });

  it('lists fieldValidation on PATCH operations and carries only reachable schemas', () => {
    const doc = obj(openapiV3Document(RESOURCES, 'api/v1'));
    assert.equal(doc.openapi, '3.0.0');
    const paths = obj(doc.paths);
    assert.ok(!Object.keys(paths).some((p) => p.startsWith('/apis/')));
    for (const p of ['/api/v1/namespaces/{namespace}/pods/{name}', '/api/v1/namespaces/{namespace}/pods/{name}/status', '/api/v1/nodes/{name}']) {
      const patch = obj(obj(paths[p]).patch);
      assert.ok((patch.parameters as Doc[]).some((x) => x.name === 'fieldValidation' && x.in === 'query'), p);
      const content = obj(obj(patch.requestBody).content);
      assert.deepEqual(Object.keys(content).sort(), [
        'application/apply-patch+yaml',
        'application/json-patch+json',
        'application/merge-patch+json',
        'application/strategic-merge-patch+json',
      ]);
    }
    const schemas = obj(obj(doc.components).schemas);
    assert.ok(schemas['io.k8s.api.core.v1.Pod']);
    assert.ok(schemas['io.k8s.api.core.v1.PodSpec']);
    assert.ok(schemas['io.k8s.api.policy.v1.Eviction']);
    assert.equal(schemas['io.k8s.api.apps.v1.Deployment'], undefined);
    for (const ref of collectRefs(doc, new Set())) {
      assert.ok(ref.startsWith('#/components/schemas/'), ref);
      assert.ok(schemas[ref.slice('#/components/schemas/'.length)], ref);
    }
    // a $ref with a description becomes allOf, as upstream's v3 documents do
    const spec = obj(obj(obj(schemas['io.k8s.api.core.v1.Pod']).properties).spec);
    assert.deepEqual(spec.allOf, [{ $ref: '#/components/schemas/io.k8s.api.core.v1.PodSpec' }]);
    assert.match(String(spec.description), /Specification of the desired behavior of the pod/);
  });
});

const kubectlPath = await new Promise<string | undefined>((resolve) => {
  execFile('sh', ['-c', 'command -v kubectl'], (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined));
});

describe('kubectl against the served documents', { skip: kubectlPath ? false : 'kubectl not on PATH' }, () => {
  let server: http.Server;
  let dir: string;
  let kubeconfig: string;
  const requests: { method: string; url: string; contentType?: string; body: string }[] = [];
  const lastApplied = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { annotations: {}, name: 'p1', namespace: 'default' },
    spec: { containers: [{ image: 'busybox', name: 'a' }, { image: 'busybox', name: 'b' }] },
  };
  const livePod = {
    ...lastApplied,
    metadata: {
      ...lastApplied.metadata,
      uid: 'u1',
      resourceVersion: '5',
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(lastApplied) },
    },
  };

  const apiResources = (gv: string): Doc => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources: RESOURCES.filter((r) => (r.group ? `${r.group}/${r.version}` : r.version) === gv).map((r) => ({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      shortNames: r.shortNames,
    })),
  });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hedge-openapi-'));
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body });
        const send = (code: number, payload: string | object): void => {
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
        };
        const p = url.pathname;
        if (p === '/version') return send(200, { major: '1', minor: '32', gitVersion: 'v1.32.0', platform: 'linux/amd64' });
        if (p === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
        if (p === '/apis') {
          const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))].map((g) => ({
            name: g,
            versions: [{ groupVersion: `${g}/v1`, version: 'v1' }],
            preferredVersion: { groupVersion: `${g}/v1`, version: 'v1' },
          }));
          return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
        }
        if (p === '/api/v1') return send(200, apiResources('v1'));
        if (p.startsWith('/apis/') && p.split('/').length === 4) return send(200, apiResources(p.slice(6)));
        if (p === '/openapi/v2') return send(200, servedOpenapiV2(RESOURCES).json);
        if (p === '/openapi/v3') return send(200, servedOpenapiV3Index(RESOURCES).json);
        if (p.startsWith('/openapi/v3/')) {
          const doc = servedOpenapiV3(RESOURCES, p.slice('/openapi/v3/'.length));
          return doc ? send(200, doc.json) : send(404, { kind: 'Status', code: 404 });
        }
        if (p === '/api/v1/namespaces/default/pods/p1' && req.method === 'GET') return send(200, livePod);
        if (p === '/api/v1/namespaces/default/pods/p1' && req.method === 'PATCH') return send(200, livePod);
        if (p === '/api/v1/namespaces/default/configmaps' && req.method === 'POST') return send(201, JSON.parse(body));
        return send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "http://127.0.0.1:' + port + '"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]',
        'current-context: c',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const kubectl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        kubectlPath as string,
        ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args],
        { timeout: 30_000, env: { ...process.env, HOME: dir, KUBECONFIG: kubeconfig } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('explain pods shows upstream descriptions', async () => {
    const r = await kubectl('explain', 'pods');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /KIND:\s+Pod/);
    assert.match(r.stdout, /Pod is a collection of containers that can run on a host/);
    assert.match(r.stdout, /spec\s+<PodSpec>/);
  });

  it('explain pods.spec.containers.ports walks refs to ContainerPort', async () => {
    const r = await kubectl('explain', 'pods.spec.containers.ports');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /FIELD: ports <\[\]ContainerPort>/);
    assert.match(r.stdout, /containerPort\s+<integer> -required-/);
    assert.match(r.stdout, /Number of port to expose on the pod's IP address/);
  });

  it('explain works for a cluster-scoped kind (nodes.status.conditions)', async () => {
    const r = await kubectl('explain', 'nodes.status.conditions');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /FIELD: conditions <\[\]NodeCondition>/);
    assert.match(r.stdout, /lastHeartbeatTime\s+<string>/);
  });

  it('explain works for a named group (deployments.spec.strategy)', async () => {
    const r = await kubectl('explain', 'deployments.spec.strategy');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GROUP:\s+apps/);
    assert.match(r.stdout, /rollingUpdate\s+<RollingUpdateDeployment>/);
  });

  it('kubectl create asks the server to validate (fieldValidation=Strict)', async () => {
    const file = path.join(dir, 'cm.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {a: b}\n');
    const r = await kubectl('create', '-f', file);
    assert.equal(r.code, 0, r.stderr);
    const post = requests.find((x) => x.method === 'POST' && x.url.startsWith('/api/v1/namespaces/default/configmaps'));
    assert.ok(post, 'POST seen');
    assert.match(post.url, /fieldValidation=Strict/);
  });

  it('kubectl apply builds a strategic merge patch from the merge keys', async () => {
    const file = path.join(dir, 'pod.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p1}\nspec:\n  containers:\n  - {name: b, image: busybox}\n  - {name: a, image: nginx}\n',
    );
    const r = await kubectl('apply', '-f', file, '-v=5');
    assert.equal(r.code, 0, r.stderr);
    // kubectl tries OpenAPI v3 first and falls back to v2, then its compiled-in types (same merge
    // keys); only a patch built from our v3 document avoids both the warnings and the v2 fetch
    assert.doesNotMatch(r.stderr, /error calculating patch from openapi|OpenAPI V3 path does not/);
    assert.ok(!requests.some((x) => x.url.startsWith('/openapi/v2')), 'no fallback to /openapi/v2');
    const patch = requests.find((x) => x.method === 'PATCH' && x.url.startsWith('/api/v1/namespaces/default/pods/p1'));
    assert.ok(patch, 'PATCH seen');
    assert.equal(patch.contentType, 'application/strategic-merge-patch+json');
    const body = JSON.parse(patch.body) as { spec: Record<string, unknown> };
    // only knowing the merge key "name" lets kubectl emit element order + a keyed element
    assert.deepEqual(body.spec['$setElementOrder/containers'], [{ name: 'b' }, { name: 'a' }]);
    assert.deepEqual(body.spec.containers, [{ image: 'nginx', name: 'a' }]);
  });
});
