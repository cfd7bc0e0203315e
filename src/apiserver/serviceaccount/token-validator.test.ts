import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import { ServiceAccountTokens } from './token-signer.ts';
import { LEGACY_TOKEN_INVALID_SINCE_LABEL, LEGACY_TOKEN_LAST_USED_LABEL, ServiceAccountTokenValidator, tokenSecretFields, type TokenValidation } from './token-validator.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();

/** the objects a token names, by kind and namespace/name; tests change them between checks */
class Objects {
  readonly items = new Map<string, KubeObject>();
  put(kind: string, namespace: string, name: string, uid: string, extra: Partial<KubeObject> & { deletionTimestamp?: string } = {}): KubeObject {
    const { deletionTimestamp, ...rest } = extra;
    const obj: KubeObject = { apiVersion: 'v1', kind, metadata: { name, namespace: namespace || undefined, uid, ...(deletionTimestamp ? { deletionTimestamp } : {}) }, ...rest };
    this.items.set(`${kind}/${namespace}/${name}`, obj);
    return obj;
  }
  remove(kind: string, namespace: string, name: string): void {
    this.items.delete(`${kind}/${namespace}/${name}`);
  }
  getter() {
    const get = (kind: string) => (ns: string, name: string) => Promise.resolve(this.items.get(`${kind}/${ns}/${name}`));
    return { serviceAccount: get('ServiceAccount'), pod: get('Pod'), secret: get('Secret'), node: (name: string) => get('Node')('', name) };
  }
}

function setup() {
  const tokens = new ServiceAccountTokens();
  const objects = new Objects();
  const used: { secret: string; day: string }[] = [];
  const validator = new ServiceAccountTokenValidator({
    tokens,
    getter: objects.getter(),
    now: () => NOW,
    recordLegacyTokenUse: (secret, day) => used.push({ secret: `${secret.namespace}/${secret.name}/${secret.uid}`, day }),
  });
  objects.put('ServiceAccount', 'apps', 'builder', 'sa-1');
  objects.put('Pod', 'apps', 'web-0', 'pod-1', { spec: { nodeName: 'edge-1' } });
  objects.put('Node', '', 'edge-1', 'node-1');
  objects.put('Secret', 'apps', 'bound', 'secret-1');
  const issue = (bind: { pod?: boolean; secret?: boolean; node?: boolean; nodeUid?: string } = { pod: true }) =>
    tokens.issue({
      namespace: 'apps',
      serviceAccount: { name: 'builder', uid: 'sa-1' },
      audiences: tokens.audiences,
      expirationSeconds: 3600,
      pod: bind.pod ? { name: 'web-0', uid: 'pod-1' } : undefined,
      secret: bind.secret ? { name: 'bound', uid: 'secret-1' } : undefined,
      node: bind.node ? { name: 'edge-1', uid: bind.nodeUid ?? 'node-1' } : undefined,
      now: new Date(NOW.getTime() - 1000),
    }).token;
  return { tokens, objects, validator, issue, used };
}

const rejected = (r: TokenValidation): string => {
  assert.equal(r.ok, false, 'the token should be rejected');
  return r.ok ? '' : r.reason;
};

describe('service account token validation (upstream claims.go)', () => {
  it('a bound token whose service account and pod are there passes, with the SA user', async () => {
    const { validator, issue } = setup();
    const r = await validator.validate(issue());
    assert.ok(r.ok);
    assert.equal(r.user.username, 'system:serviceaccount:apps:builder');
    assert.equal(r.user.uid, 'sa-1');
    assert.deepEqual(r.user.groups, ['system:serviceaccounts', 'system:serviceaccounts:apps']);
  });

  it('is rejected once its service account is deleted', async () => {
    const { validator, issue, objects } = setup();
    const token = issue();
    objects.remove('ServiceAccount', 'apps', 'builder');
    assert.equal(rejected(await validator.validate(token)), 'serviceaccounts "builder" not found');
  });

  it('is rejected when the service account was recreated (a new UID)', async () => {
    const { validator, issue, objects } = setup();
    const token = issue();
    objects.put('ServiceAccount', 'apps', 'builder', 'sa-2');
    assert.equal(rejected(await validator.validate(token)), 'service account UID (sa-2) does not match claim (sa-1)');
  });

  it('is rejected when its service account was deleted over a minute ago, not within the leeway', async () => {
    const { validator, issue, objects } = setup();
    const token = issue();
    objects.put('ServiceAccount', 'apps', 'builder', 'sa-1', { deletionTimestamp: ago(30_000) });
    assert.ok((await validator.validate(token)).ok, 'within jwt.DefaultLeeway');
    objects.put('ServiceAccount', 'apps', 'builder', 'sa-1', { deletionTimestamp: ago(61_000) });
    assert.equal(rejected(await validator.validate(token)), 'service account apps/builder has been deleted');
  });

  it('is rejected once its pod is deleted or replaced by one of the same name', async () => {
    const { validator, issue, objects } = setup();
    const token = issue();
    objects.put('Pod', 'apps', 'web-0', 'pod-2');
    assert.equal(rejected(await validator.validate(token)), 'pod UID (pod-2) does not match service account pod ref claim (pod-1)');
    objects.remove('Pod', 'apps', 'web-0');
    assert.equal(rejected(await validator.validate(token)), 'service account token has been invalidated');
  });

  it('a pod whose deletionTimestamp passed over a minute ago is gone; one terminating gracefully is not', async () => {
    const { validator, issue, objects } = setup();
    const token = issue();
    // graceful deletion sets the timestamp to when the grace period ends: in the future
    objects.put('Pod', 'apps', 'web-0', 'pod-1', { deletionTimestamp: new Date(NOW.getTime() + 30_000).toISOString() });
    assert.ok((await validator.validate(token)).ok);
    objects.put('Pod', 'apps', 'web-0', 'pod-1', { deletionTimestamp: ago(59_000) });
    assert.ok((await validator.validate(token)).ok, 'within jwt.DefaultLeeway');
    objects.put('Pod', 'apps', 'web-0', 'pod-1', { deletionTimestamp: ago(120_000) });
    assert.equal(rejected(await validator.validate(token)), 'service account token has been invalidated');
  });

  it('a secret-bound token needs its secret; a node-bound one its node', async () => {
    const { validator, issue, objects } = setup();
    const secretBound = issue({ secret: true });
    const nodeBound = issue({ node: true });
    assert.ok((await validator.validate(secretBound)).ok);
    assert.ok((await validator.validate(nodeBound)).ok);
    objects.put('Secret', 'apps', 'bound', 'secret-2');
    assert.match(rejected(await validator.validate(secretBound)), /^secret UID \(secret-2\) does not match/);
    objects.remove('Secret', 'apps', 'bound');
    assert.equal(rejected(await validator.validate(secretBound)), 'service account token has been invalidated');
    objects.put('Node', '', 'edge-1', 'node-1', { deletionTimestamp: ago(120_000) });
    assert.equal(rejected(await validator.validate(nodeBound)), 'service account token has been invalidated');
    objects.remove('Node', '', 'edge-1');
    assert.equal(rejected(await validator.validate(nodeBound)), 'service account token has been invalidated');
  });

  it("a pod-bound token's node claim is information only", async () => {
    const { validator, issue, objects } = setup();
    const token = issue({ pod: true, node: true });
    objects.remove('Node', '', 'edge-1');
    assert.ok((await validator.validate(token)).ok);
  });

  it('an unbound token needs only its service account', async () => {
    const { validator, issue, objects } = setup();
    const token = issue({});
    objects.remove('Pod', 'apps', 'web-0');
    assert.ok((await validator.validate(token)).ok);
  });

  it('expiry, audience and forged signatures are reasons too; a JWT of another issuer is not ours', async () => {
    const { validator, tokens } = setup();
    const expired = tokens.issue({ namespace: 'apps', serviceAccount: { name: 'builder', uid: 'sa-1' }, audiences: tokens.audiences, expirationSeconds: 600, now: new Date(NOW.getTime() - 700_000) }).token;
    assert.equal(rejected(await validator.validate(expired)), 'service account token has expired');
    const other = tokens.issue({ namespace: 'apps', serviceAccount: { name: 'builder', uid: 'sa-1' }, audiences: ['vault'], expirationSeconds: 600, now: NOW }).token;
    assert.match(rejected(await validator.validate(other)), /token audiences \["vault"\] is invalid/);
    assert.ok((await validator.validate(other, ['vault'])).ok);
    const forged = new ServiceAccountTokens().issue({ namespace: 'apps', serviceAccount: { name: 'builder', uid: 'sa-1' }, audiences: tokens.audiences, expirationSeconds: 600, now: NOW }).token;
    assert.equal(rejected(await validator.validate(forged)), 'invalid bearer token');
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const foreign = await validator.validate(`${b64({ alg: 'RS256' })}.${b64({ iss: 'https://accounts.example.com', sub: 'x' })}.c2ln`);
    assert.ok(!foreign.ok && foreign.foreign === true);
  });
});

describe("a bound token's user extra (upstream ServiceAccountInfo.UserInfo)", () => {
  const jtiOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { jti: string }).jti;
  const extraOf = async (validator: ServiceAccountTokenValidator, token: string) => {
    const r = await validator.validate(token);
    assert.ok(r.ok, JSON.stringify(r));
    return r.user.extra;
  };

  it('a pod-bound token names its pod, its node and its credential', async () => {
    const { validator, issue } = setup();
    const token = issue({ pod: true, node: true });
    assert.match(jtiOf(token), /^[0-9a-f-]{36}$/);
    assert.deepEqual(await extraOf(validator, token), {
      'authentication.kubernetes.io/pod-name': ['web-0'],
      'authentication.kubernetes.io/pod-uid': ['pod-1'],
      'authentication.kubernetes.io/credential-id': [`JTI=${jtiOf(token)}`],
      'authentication.kubernetes.io/node-name': ['edge-1'],
      'authentication.kubernetes.io/node-uid': ['node-1'],
    });
  });

  it("a pod's node that was not found is named without a UID, and such a token still validates", async () => {
    const { validator, issue } = setup();
    const token = issue({ pod: true, node: true, nodeUid: '' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { 'kubernetes.io': { node: object } };
    assert.deepEqual(claims['kubernetes.io'].node, { name: 'edge-1' }, 'upstream omits an empty uid');
    const extra = await extraOf(validator, token);
    assert.deepEqual(extra?.['authentication.kubernetes.io/node-name'], ['edge-1']);
    assert.equal(extra?.['authentication.kubernetes.io/node-uid'], undefined);
  });

  it('a node-bound token names its node; a secret-bound or unbound one only its credential', async () => {
    const { validator, issue } = setup();
    const nodeBound = issue({ node: true });
    assert.deepEqual(await extraOf(validator, nodeBound), {
      'authentication.kubernetes.io/credential-id': [`JTI=${jtiOf(nodeBound)}`],
      'authentication.kubernetes.io/node-name': ['edge-1'],
      'authentication.kubernetes.io/node-uid': ['node-1'],
    });
    const secretBound = issue({ secret: true });
    assert.deepEqual(await extraOf(validator, secretBound), { 'authentication.kubernetes.io/credential-id': [`JTI=${jtiOf(secretBound)}`] });
    const unbound = issue({});
    assert.deepEqual(Object.keys((await extraOf(validator, unbound)) ?? {}), ['authentication.kubernetes.io/credential-id']);
  });
});

describe('legacy secret-based token validation (upstream legacy.go)', () => {
  function legacySetup() {
    const s = setup();
    const token = s.tokens.issueLegacy({ namespace: 'apps', serviceAccount: { name: 'builder', uid: 'sa-1' }, secretName: 'builder-token' });
    const secret = (extra: Partial<KubeObject> & { deletionTimestamp?: string } = {}, held = token) =>
      s.objects.put('Secret', 'apps', 'builder-token', 'st-1', { type: 'kubernetes.io/service-account-token', data: { token: Buffer.from(held).toString('base64') }, ...extra });
    secret();
    return { ...s, token, secret };
  }

  it('passes while its secret holds it and the service account is there, for the apiserver audiences only', async () => {
    const { validator, token, tokens } = legacySetup();
    const r = await validator.validate(token);
    assert.ok(r.ok);
    assert.equal(r.user.username, 'system:serviceaccount:apps:builder');
    assert.deepEqual(r.audiences, tokens.audiences);
    assert.match(rejected(await validator.validate(token, ['vault'])), /is invalid for the target audiences/);
  });

  it('is rejected once its secret is deleted, being deleted, marked invalid, or holds another token', async () => {
    const { validator, token, secret, objects } = legacySetup();
    secret({ deletionTimestamp: new Date(NOW.getTime() + 60_000).toISOString() });
    assert.equal(rejected(await validator.validate(token)), 'Token has been invalidated');
    secret({}, 'some-other-token');
    assert.equal(rejected(await validator.validate(token)), "Token does not match server's copy");
    secret({ metadata: { name: 'builder-token', namespace: 'apps', uid: 'st-1', labels: { [LEGACY_TOKEN_INVALID_SINCE_LABEL]: '2026-01-01' } } });
    assert.match(rejected(await validator.validate(token)), /has been marked invalid/);
    objects.remove('Secret', 'apps', 'builder-token');
    assert.equal(rejected(await validator.validate(token)), 'Token has been invalidated');
  });

  it('carries no extra, and records its use at most once a day (the last-used label)', async () => {
    const { validator, token, secret, used } = legacySetup();
    const r = await validator.validate(token);
    assert.ok(r.ok);
    assert.equal(r.user.extra, undefined);
    assert.deepEqual(used, [{ secret: 'apps/builder-token/st-1', day: '2026-03-01' }]);
    await validator.validate(token);
    assert.equal(used.length, 1, 'recorded once although the cache does not show the label yet');
    // a label of today or tomorrow (a clock ahead) is left alone; yesterday's is renewed
    const labelled = (day: string) => secret({ metadata: { name: 'builder-token', namespace: 'apps', uid: 'st-2', labels: { [LEGACY_TOKEN_LAST_USED_LABEL]: day } } });
    labelled('2026-03-02');
    assert.ok((await validator.validate(token)).ok);
    assert.equal(used.length, 1);
    labelled('2026-02-28');
    assert.ok((await validator.validate(token)).ok);
    assert.deepEqual(used[1], { secret: 'apps/builder-token/st-2', day: '2026-03-01' });
  });

  it('a token marked invalid is refused and its use still recorded; one that fails earlier is not recorded', async () => {
    const { validator, token, secret, used, objects } = legacySetup();
    secret({ metadata: { name: 'builder-token', namespace: 'apps', uid: 'st-1', labels: { [LEGACY_TOKEN_INVALID_SINCE_LABEL]: '2026-01-01' } } });
    assert.match(rejected(await validator.validate(token)), /has been marked invalid/);
    assert.equal(used.length, 1);
    objects.remove('ServiceAccount', 'apps', 'builder');
    secret({ metadata: { name: 'builder-token', namespace: 'apps', uid: 'st-3' } });
    assert.equal(rejected(await validator.validate(token)), 'serviceaccounts "builder" not found');
    assert.equal(used.length, 1);
  });

  it('is rejected when its service account is gone, being deleted, or recreated', async () => {
    const { validator, token, objects } = legacySetup();
    objects.put('ServiceAccount', 'apps', 'builder', 'sa-1', { deletionTimestamp: new Date(NOW.getTime() + 1000).toISOString() });
    assert.equal(rejected(await validator.validate(token)), 'ServiceAccount apps/builder has been deleted');
    objects.put('ServiceAccount', 'apps', 'builder', 'sa-9');
    assert.equal(rejected(await validator.validate(token)), 'ServiceAccount UID (sa-9) does not match claim (sa-1)');
    objects.remove('ServiceAccount', 'apps', 'builder');
    assert.equal(rejected(await validator.validate(token)), 'serviceaccounts "builder" not found');
  });

  it("the cache's slim Secret keeps what the check reads, and no other Secret's payload", async () => {
    const { validator, token, objects } = legacySetup();
    const full = objects.items.get('Secret/apps/builder-token')!;
    const slim = tokenSecretFields({ ...full, metadata: { ...full.metadata, labels: { app: 'x' }, annotations: { big: 'y'.repeat(1000) } } });
    assert.deepEqual(slim.metadata, { name: 'builder-token', namespace: 'apps', uid: 'st-1' });
    objects.items.set('Secret/apps/builder-token', slim);
    assert.ok((await validator.validate(token)).ok);
    const opaque = tokenSecretFields({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'apps', uid: 'u', labels: { [LEGACY_TOKEN_INVALID_SINCE_LABEL]: 'x' } }, type: 'Opaque', data: { password: 'c2VjcmV0' } });
    assert.equal(opaque.data, undefined);
    assert.equal(opaque.metadata.labels, undefined);
    // a token Secret keeps its account annotations (the tokens controller's) and the legacy token labels
    const annotated = tokenSecretFields({
      ...full,
      metadata: {
        ...full.metadata,
        labels: { app: 'x', [LEGACY_TOKEN_LAST_USED_LABEL]: '2026-03-01' },
        annotations: { 'kubernetes.io/service-account.name': 'builder', 'kubernetes.io/service-account.uid': 'sa-1', other: 'y' },
      },
    });
    assert.deepEqual(annotated.metadata.labels, { [LEGACY_TOKEN_LAST_USED_LABEL]: '2026-03-01' });
    assert.deepEqual(annotated.metadata.annotations, { 'kubernetes.io/service-account.name': 'builder', 'kubernetes.io/service-account.uid': 'sa-1' });
  });
});
