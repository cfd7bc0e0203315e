import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import { builtinResources } from '../../api/builtin/builtin-resources.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { nodeRestrictionPlugin } from './node-restriction.ts';
import type { AdmissionRequest } from './types.ts';

const defs = builtinResources();
const def = (plural: string) => defs.find((d) => d.group === '' && d.plural === plural)!;
const pod = (name: string, nodeName: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec: { nodeName, containers: [] } });
const stored = new Map([['mine', pod('mine', 'me')], ['theirs', pod('theirs', 'other')]]);
const plugin = nodeRestrictionPlugin({ getPod: async (_ns, name) => stored.get(name) });
const node = { username: 'system:node:me', groups: ['system:nodes', 'system:authenticated'] };

const req = (r: Partial<AdmissionRequest> & Pick<AdmissionRequest, 'operation' | 'def' | 'subresource'>): AdmissionRequest => ({
  namespace: 'default',
  name: '',
  user: node,
  dryRun: false,
  signal: new AbortController().signal,
  ...r,
});
const refusal = async (r: AdmissionRequest): Promise<string | undefined> => {
  try {
    await plugin.validate!(r);
    return undefined;
  } catch (err) {
    assert.ok(isHedgeError(err), String(err));
    return `${err.code}: ${err.message}`;
  }
};
const eviction = (name: string): KubeObject => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' } });
const evict = (name: string) => req({ operation: 'CREATE', def: def('pods'), subresource: 'eviction', kind: { group: 'policy', version: 'v1', kind: 'Eviction' }, name, object: eviction(name) });
const token = (boundObjectRef: unknown) =>
  req({ operation: 'CREATE', def: def('serviceaccounts'), subresource: 'token', name: 'default', object: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { name: 'default' }, spec: { boundObjectRef } } });

describe('NodeRestriction on pod subresources and tokens (upstream admitPod*, admitServiceAccount)', () => {
  it('a node evicts only pods bound to it (the stored pod is looked up: an Eviction carries no node)', async () => {
    assert.equal(await refusal(evict('mine')), undefined);
    assert.equal(await refusal(evict('theirs')), 'Forbidden: pods "theirs" is forbidden: node me can only evict pods with spec.nodeName set to itself');
    assert.equal(await refusal(evict('gone')), 'NotFound: pods "gone" not found');
  });

  it('refuses every other pod subresource (binding, ephemeralcontainers), lets status through for its own pods', async () => {
    const binding = req({ operation: 'CREATE', def: def('pods'), subresource: 'binding', name: 'mine', kind: { group: '', version: 'v1', kind: 'Binding' }, object: { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'mine' } } });
    assert.equal(await refusal(binding), `Forbidden: pods "mine" is forbidden: unexpected pod subresource "binding", only 'status' and 'eviction' are allowed`);
    const ephemeral = req({ operation: 'UPDATE', def: def('pods'), subresource: 'ephemeralcontainers', name: 'mine', object: pod('mine', 'me'), oldObject: pod('mine', 'me') });
    assert.match((await refusal(ephemeral)) ?? '', /unexpected pod subresource "ephemeralcontainers"/);
    assert.equal(await refusal(req({ operation: 'UPDATE', def: def('pods'), subresource: 'status', name: 'mine', object: pod('mine', 'me'), oldObject: pod('mine', 'me') })), undefined);
    assert.match((await refusal(req({ operation: 'UPDATE', def: def('pods'), subresource: 'status', name: 'theirs', object: pod('theirs', 'other'), oldObject: pod('theirs', 'other') }))) ?? '', /can only update pod status/);
  });

  it('leaves a CONNECT to the authorizer (upstream handles CREATE, UPDATE, DELETE only)', async () => {
    const exec = req({ operation: 'CONNECT', def: def('pods'), subresource: 'exec', name: 'theirs', kind: { group: '', version: 'v1', kind: 'PodExecOptions' }, object: { apiVersion: 'v1', kind: 'PodExecOptions', metadata: {} } });
    assert.equal(await refusal(exec), undefined);
  });

  it('a node mints tokens only bound to a pod bound to it', async () => {
    assert.equal(await refusal(token({ kind: 'Pod', apiVersion: 'v1', name: 'mine', uid: 'uid-mine' })), undefined);
    assert.equal(await refusal(token(undefined)), 'Forbidden: serviceaccounts "default" is forbidden: node requested token not bound to a pod');
    assert.equal(await refusal(token({ kind: 'Secret', apiVersion: 'v1', name: 'mine' })), 'Forbidden: serviceaccounts "default" is forbidden: node requested token not bound to a pod');
    assert.equal(await refusal(token({ kind: 'Pod', apiVersion: 'v1', name: 'gone' })), 'Forbidden: serviceaccounts "default" is forbidden: node requested token bound to a pod that does not exist');
    assert.equal(await refusal(token({ kind: 'Pod', apiVersion: 'v1', name: 'theirs' })), 'Forbidden: serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node');
    assert.match((await refusal(token({ kind: 'Pod', apiVersion: 'v1', name: 'mine', uid: 'stale' }))) ?? '', /the UID in the bound object reference \(stale\) does not match/);
  });

  it('does not restrict other users', async () => {
    assert.equal(await refusal({ ...evict('theirs'), user: { username: 'admin', groups: ['system:masters'] } }), undefined);
  });
});

describe('NodeRestriction on pod creates: mirror pods only (upstream admitPodCreate)', () => {
  const nodes = new Map([['me', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'me', uid: 'node-uid-me' } } as KubeObject]]);
  const withNodes = nodeRestrictionPlugin({ getPod: async () => undefined, getNode: async (name) => nodes.get(name) });
  const owner = { apiVersion: 'v1', kind: 'Node', name: 'me', uid: 'node-uid-me', controller: true };
  const mirror = (meta: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-me', namespace: 'default', annotations: { 'kubernetes.io/config.mirror': 'h1' }, ownerReferences: [owner], ...meta },
    spec: { nodeName: 'me', containers: [{ name: 'c', image: 'x' }], ...spec },
  });
  const create = async (object: KubeObject): Promise<string | undefined> => {
    try {
      await withNodes.validate!(req({ operation: 'CREATE', def: def('pods'), subresource: '', name: object.metadata.name ?? '', object }));
      return undefined;
    } catch (err) {
      assert.ok(isHedgeError(err), String(err));
      return `${err.code}: ${err.message}`;
    }
  };
  const refused = (msg: string) => `Forbidden: pods "web-me" is forbidden: ${msg}`;

  it('admits the mirror of its static pod: annotated, bound to itself, owned by its Node as controller', async () => {
    assert.equal(await create(mirror()), undefined);
    // volumes that reference nothing in the API are fine
    assert.equal(await create(mirror({}, { volumes: [{ name: 'h', hostPath: { path: '/var/log' } }, { name: 'e', emptyDir: {} }] })), undefined);
  });

  it('refuses a pod without the mirror annotation, or bound elsewhere', async () => {
    assert.equal(await create(mirror({ annotations: {} })), refused('pod does not have "kubernetes.io/config.mirror" annotation, node "me" can only create mirror pods'));
    assert.equal(await create(mirror({}, { nodeName: 'other' })), refused('node "me" can only create pods with spec.nodeName set to itself'));
    assert.equal(await create(mirror({}, { nodeName: undefined })), refused('node "me" can only create pods with spec.nodeName set to itself'));
  });

  it('requires exactly one controller owner reference to its own Node, with the Node UID and no blockOwnerDeletion', async () => {
    assert.equal(await create(mirror({ ownerReferences: [] })), refused('node "me" can only create pods with an owner reference set to itself'));
    assert.equal(await create(mirror({ ownerReferences: [owner, owner] })), refused('node "me" can only create pods with a single owner reference set to itself'));
    assert.equal(await create(mirror({ ownerReferences: [{ ...owner, name: 'other' }] })), refused('node "me" can only create pods with an owner reference set to itself'));
    assert.equal(await create(mirror({ ownerReferences: [{ ...owner, kind: 'ReplicaSet', apiVersion: 'apps/v1' }] })), refused('node "me" can only create pods with an owner reference set to itself'));
    assert.equal(await create(mirror({ ownerReferences: [{ ...owner, controller: false }] })), refused('node "me" can only create pods with a controller owner reference set to itself'));
    assert.equal(await create(mirror({ ownerReferences: [{ ...owner, blockOwnerDeletion: true }] })), refused('node "me" must not set blockOwnerDeletion on an owner reference'));
    assert.equal(await create(mirror({ ownerReferences: [{ ...owner, uid: 'stale' }] })), refused('node me UID mismatch: expected stale got node-uid-me'));
    nodes.delete('me');
    try {
      assert.equal(await create(mirror()), 'NotFound: nodes "me" not found');
    } finally {
      nodes.set('me', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'me', uid: 'node-uid-me' } });
    }
  });

  it('refuses a mirror that references other API objects (a node must not reach them through a pod)', async () => {
    assert.equal(await create(mirror({}, { serviceAccountName: 'default' })), refused('node "me" can not create pods that reference a service account'));
    assert.equal(await create(mirror({}, { volumes: [{ name: 's', secret: { secretName: 'db' } }] })), refused('node "me" can not create pods that reference secrets'));
    assert.equal(await create(mirror({}, { imagePullSecrets: [{ name: 'regcred' }] })), refused('node "me" can not create pods that reference secrets'));
    const envFromCm = { containers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'cfg' } }] }] };
    assert.equal(await create(mirror({}, envFromCm)), refused('node "me" can not create pods that reference configmaps'));
    assert.equal(await create(mirror({}, { volumes: [{ name: 'c', projected: { sources: [{ clusterTrustBundle: { name: 'b', path: 'ca.crt' } }] } }] })), refused('node "me" can not create pods that use clustertrustbundles'));
    assert.equal(await create(mirror({}, { volumes: [{ name: 'p', persistentVolumeClaim: { claimName: 'data' } }] })), refused('node "me" can not create pods that reference persistentvolumeclaims'));
    const ephemeral = { name: 'e', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } } };
    assert.equal(await create(mirror({}, { volumes: [ephemeral] })), refused('node "me" can not create pods that use generic ephemeral volumes'));
    assert.equal(await create(mirror({}, { resourceClaims: [{ name: 'gpu' }] })), refused('node "me" can not create pods that reference resourceclaims'));
  });

  it('lets other users create any pod; refuses a node any other pod update', async () => {
    const admin = { username: 'admin', groups: ['system:masters'] };
    await withNodes.validate!(req({ operation: 'CREATE', def: def('pods'), subresource: '', name: 'x', user: admin, object: pod('x', 'me') }));
    const upd = req({ operation: 'UPDATE', def: def('pods'), subresource: '', name: 'mine', object: pod('mine', 'me'), oldObject: pod('mine', 'me') });
    await assert.rejects(async () => withNodes.validate!(upd), /unexpected operation "UPDATE", node "me" can only create and delete mirror pods/);
  });
});
