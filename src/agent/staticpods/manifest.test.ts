import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStaticPod } from '../../api/static-pod.ts';
import { isManifestFile, parseStaticPod, staticPodName } from './manifest.ts';

const SEEN = '2026-01-02T03:04:05.000000Z';
const yaml = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: { app: web }
spec:
  containers:
  - name: nginx
    image: nginx:1.25
`;
const parse = (text: string, file = '/etc/hedge/manifests/web.yaml', nodeName = 'edge-1') => parseStaticPod({ text, file, nodeName, seenAt: SEEN });

describe('static pod manifests (upstream pkg/kubelet/config file source + applyDefaults)', () => {
  it('names, binds, annotates and defaults the pod as the kubelet does', () => {
    const r = parse(yaml);
    assert.ok(r.ok, r.ok ? '' : r.error);
    const p = r.pod;
    assert.equal(p.metadata?.name, 'web-edge-1', 'the node name is appended');
    assert.equal(p.metadata?.namespace, 'default');
    assert.equal(p.spec?.nodeName, 'edge-1');
    assert.match(p.metadata?.uid ?? '', /^[0-9a-f]{32}$/);
    assert.deepEqual(p.metadata?.annotations, {
      'kubernetes.io/config.hash': p.metadata?.uid,
      'kubernetes.io/config.source': 'file',
      'kubernetes.io/config.seen': SEEN,
    });
    assert.deepEqual(p.metadata?.labels, { app: 'web' });
    assert.ok(isStaticPod(p));
    // the API's defaults: restart policy, grace, pull policy from the tag, phase and QoS
    assert.equal(p.spec?.restartPolicy, 'Always');
    assert.equal(p.spec?.terminationGracePeriodSeconds, 30);
    assert.equal(p.spec?.containers[0]?.imagePullPolicy, 'IfNotPresent');
    assert.equal(p.spec?.serviceAccountName, undefined, 'a static pod runs as no service account');
    assert.deepEqual(p.status, { phase: 'Pending', qosClass: 'BestEffort' });
    assert.deepEqual(p.spec?.tolerations, [{ operator: 'Exists', effect: 'NoExecute' }], 'never evicted for node problems');
  });

  it('keeps a namespace and a UID the manifest gives (the hash annotation is then that UID)', () => {
    const r = parse(yaml.replace('  name: web\n', '  name: web\n  namespace: kube-system\n  uid: 11111111-2222-3333-4444-555555555555\n'));
    assert.ok(r.ok);
    assert.equal(r.pod.metadata?.namespace, 'kube-system');
    assert.equal(r.pod.metadata?.uid, '11111111-2222-3333-4444-555555555555');
    assert.equal(r.pod.metadata?.annotations?.['kubernetes.io/config.hash'], '11111111-2222-3333-4444-555555555555');
  });

  it('hashes the decoded pod, the node and the file: formatting does not change it, content, node and file do', () => {
    const uid = (r: ReturnType<typeof parse>): string => (r.ok ? (r.pod.metadata?.uid ?? '') : r.error);
    const base = uid(parse(yaml));
    assert.equal(uid(parse(`# a comment\n${yaml.replace('{ app: web }', '\n    app: web')}`)), base);
    const asJson = JSON.stringify({ kind: 'Pod', apiVersion: 'v1', spec: { containers: [{ image: 'nginx:1.25', name: 'nginx' }] }, metadata: { labels: { app: 'web' }, name: 'web' } });
    assert.equal(uid(parse(asJson)), base, 'JSON of the same pod, keys in another order');
    assert.notEqual(uid(parse(yaml.replace('nginx:1.25', 'nginx:1.26'))), base);
    assert.notEqual(uid(parse(yaml, '/etc/hedge/manifests/web.yaml', 'edge-2')), base);
    assert.notEqual(uid(parse(yaml, '/etc/hedge/manifests/other.yaml')), base);
    assert.equal(staticPodName('etcd', 'Node-A'), 'etcd-node-a');
  });

  it('refuses what cannot run, naming the file and the field, without throwing', () => {
    const bad: [string, RegExp][] = [
      ['', /web\.yaml: empty file/],
      ['{ not: yaml: [', /cannot be decoded/],
      ['- a\n- b\n', /is not an object/],
      [yaml.replace('kind: Pod', 'kind: Deployment'), /kind: must be Pod, not "Deployment"/],
      [yaml.replace('apiVersion: v1', 'apiVersion: apps/v1'), /apiVersion: must be v1/],
      [yaml.replace('  name: web\n', ''), /metadata\.name: Required value/],
      [yaml.replace('  name: web\n', '  name: Web_Server\n'), /metadata\.name: .*RFC 1123/],
      [yaml.replace('    image: nginx:1.25\n', ''), /spec\.containers\[0\]\.image: Required value/],
      ['apiVersion: v1\nkind: Pod\nmetadata: { name: x }\n', /spec: Required value/],
      [`${yaml}---\n${yaml}`, /holds 2 documents; a static pod file holds one Pod/],
      [yaml.replace('  labels: { app: web }\n', "  annotations: { 'kubernetes.io/config.mirror': x }\n"), /may not carry kubernetes\.io\/config\.mirror/],
    ];
    for (const [text, want] of bad) {
      const r = parse(text);
      assert.equal(r.ok, false, `accepted: ${text}`);
      if (!r.ok) {
        assert.match(r.error, /^static pod manifest \/etc\/hedge\/manifests\/web\.yaml: /);
        assert.match(r.error, want);
      }
    }
  });

  it('reads *.yaml, *.yml and *.json, never dotfiles or editor leftovers', () => {
    for (const f of ['a.yaml', 'b.yml', 'c.json', 'D.YAML']) assert.equal(isManifestFile(f), true, f);
    for (const f of ['.a.yaml', '.web.yaml.swp', 'web.yaml~', 'web.yaml.bak', 'README', 'web.txt']) assert.equal(isManifestFile(f), false, f);
  });
});
