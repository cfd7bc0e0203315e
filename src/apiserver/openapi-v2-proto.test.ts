import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { generateCa, generateServingCert } from './auth/pki.ts';
import { encodeOpenapiV2, openapiV2ProtoMime, openapiV2ProtoMimeDeprecated } from './openapi-v2-proto.ts';
import { readFields, type WireField } from './protobuf/wire.ts';
import { startTestServer, testToken, type TestServer } from './testing/test-server.ts';

const text = (f: WireField | undefined): string | undefined => (f && f.v.wire === 2 ? f.v.value.toString('utf8') : undefined);
const sub = (f: WireField | undefined): WireField[] => (f && f.v.wire === 2 ? readFields(f.v.value) : []);
const all = (fs: WireField[], n: number): WireField[] => fs.filter((f) => f.field === n);
const one = (fs: WireField[], n: number): WireField | undefined => fs.find((f) => f.field === n);

/** name -> fields of the value, for repeated Named* messages */
function named(fs: WireField[]): Map<string, WireField[]> {
  return new Map(fs.map((f) => sub(f)).map((nf) => [text(one(nf, 1)) ?? '', sub(one(nf, 2))]));
}

describe('OpenAPI v2 as gnostic protobuf', () => {
  it('encodes schemas with gnostic field numbers and YAML vendor extensions', () => {
    const buf = encodeOpenapiV2({
      swagger: '2.0',
      info: { title: 'Kubernetes', version: 'v1.32.0' },
      definitions: {
        'io.k8s.api.core.v1.Pod': {
          description: 'a pod',
          type: 'object',
          required: ['spec'],
          properties: {
            spec: { $ref: '#/definitions/io.k8s.api.core.v1.PodSpec' },
            tags: { type: 'array', items: { type: 'string' } },
            extra: { type: 'object', additionalProperties: { type: 'integer', format: 'int32' } },
          },
          'x-kubernetes-group-version-kind': [{ group: '', kind: 'Pod', version: 'v1' }],
        },
      },
    });
    const doc = readFields(buf);
    assert.equal(text(one(doc, 1)), '2.0');
    assert.equal(text(one(sub(one(doc, 2)), 2)), 'v1.32.0');
    const defs = named(all(sub(one(doc, 9)), 1));
    const pod = defs.get('io.k8s.api.core.v1.Pod');
    assert.ok(pod);
    assert.equal(text(one(pod, 4)), 'a pod');
    assert.deepEqual(all(pod, 19).map(text), ['spec']);
    assert.equal(text(one(sub(one(pod, 22)), 1)), 'object');
    const props = named(all(sub(one(pod, 25)), 1));
    assert.equal(text(one(props.get('spec') ?? [], 1)), '#/definitions/io.k8s.api.core.v1.PodSpec');
    const items = sub(one(sub(one(props.get('tags') ?? [], 23)), 1));
    assert.equal(text(one(sub(one(items, 22)), 1)), 'string');
    const addl = sub(one(sub(one(props.get('extra') ?? [], 21)), 1));
    assert.equal(text(one(addl, 2)), 'int32');
    const ext = sub(one(pod, 31));
    assert.equal(text(one(ext, 1)), 'x-kubernetes-group-version-kind');
    assert.deepEqual(parseYaml(text(one(sub(one(ext, 2)), 2)) ?? ''), [{ group: '', kind: 'Pod', version: 'v1' }]);
  });

  describe('served', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer();
    });
    after(async () => {
      await t?.close();
    });

    it('answers a protobuf-only Accept (kubectl 1.27/1.28) with the whole document', async () => {
      const r = await t.request('/openapi/v2', { headers: { accept: `${openapiV2ProtoMimeDeprecated}, */*;q=0` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), openapiV2ProtoMime);
      const doc = readFields(Buffer.from(await r.arrayBuffer()));
      assert.equal(text(one(doc, 1)), '2.0');
      const defs = named(all(sub(one(doc, 9)), 1));
      assert.ok(defs.has('io.k8s.api.core.v1.Pod'));
      const paths = named(all(sub(one(doc, 8)), 2));
      assert.ok(paths.has('/api/v1/namespaces/{namespace}/pods'));
      // a second request with the ETag is a 304
      const etag = r.headers.get('etag') ?? '';
      const again = await t.request('/openapi/v2', { headers: { accept: openapiV2ProtoMimeDeprecated, 'if-none-match': etag } });
      assert.equal(again.status, 304);
    });

    it('still serves JSON when JSON is asked for, and the legacy protobuf path', async () => {
      const j = await t.json<{ swagger: string }>('/openapi/v2', { headers: { accept: 'application/json' } });
      assert.equal(j.status, 200);
      assert.equal(j.body.swagger, '2.0');
      const legacy = await t.request('/swagger-2.0.0.pb-v1');
      assert.equal(legacy.status, 200);
      assert.equal(legacy.headers.get('content-type'), openapiV2ProtoMime);
    });
  });
});

const oldKubectls = ['1.27', '1.28']
  .map((v) => ({ v, path: `/usr/lib/google-cloud-sdk/bin/kubectl.${v}` }))
  .filter((k) => existsSync(k.path));

describe('kubectl 1.27/1.28 apply and explain', { skip: oldKubectls.length === 0 ? 'no kubectl 1.27/1.28 here' : false }, () => {
  let t: TestServer;
  let dir: string;
  let kubeconfig: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-old-kubectl-'));
    const ca = await generateCa();
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    t = await startTestServer({ tls: { cert: serving.cert, key: serving.key, clientCa: ca.cert } });
    kubeconfig = join(dir, 'kubeconfig');
    const b64 = Buffer.from(ca.cert).toString('base64');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: h\n  cluster: {server: "${t.url}", certificate-authority-data: ${b64}}\n` +
        `users:\n- name: a\n  user: {token: ${testToken}}\ncontexts:\n- name: h\n  context: {cluster: h, user: a, namespace: default}\ncurrent-context: h\n`,
    );
  });
  after(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const run = (binary: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(
        binary,
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache', binary.slice(-4)), ...args],
        { timeout: 20_000, env: { PATH: process.env.PATH ?? '', HOME: dir } },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin?.end(input);
    });

  for (const k of oldKubectls) {
    it(`kubectl ${k.v}: apply twice, apply a change, explain`, async () => {
      const name = `cm-${k.v.replace('.', '-')}`;
      const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  a: "1"\n`;
      const pod = `---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p-${k.v.replace('.', '-')}\nspec:\n  containers:\n  - name: c\n    image: busybox\n`;
      let r = await run(k.path, ['apply', '-f', '-'], cm + pod);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`configmap/${name} created`));
      r = await run(k.path, ['apply', '-f', '-'], cm + pod);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`configmap/${name} unchanged`));
      r = await run(k.path, ['apply', '-f', '-'], cm.replace('"1"', '"2"') + pod.replace('image: busybox', 'image: busybox:1.36'));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /configured/);
      r = await run(k.path, ['get', 'cm', name, '-o', 'jsonpath={.data.a}']);
      assert.equal(r.stdout, '2');
      r = await run(k.path, ['explain', 'pods.spec.restartPolicy']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /restartPolicy/);
    });
  }
});
