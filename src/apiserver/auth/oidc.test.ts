import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { silentLogger } from '../../lib/log.ts';
import { startTestServer } from '../testing/test-server.ts';
import { OidcAuthenticator, type OidcOptions } from './oidc.ts';
import { generateCa, generateServingCert } from './pki.ts';

/** An OpenID provider on loopback: discovery and a JWKS whose keys and answers a test can change. */
class Provider {
  server!: Server;
  issuer = '';
  ca = '';
  keys: JWK[] = [];
  /** what discovery answers: a status, or a document's issuer override */
  discovery: { status: number; issuer?: string } = { status: 200 };
  jwksFetches = 0;

  async start(): Promise<void> {
    const ca = await generateCa('oidc-test-ca');
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    this.ca = ca.cert;
    this.server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/.well-known/openid-configuration') {
        if (this.discovery.status !== 200) return send(this.discovery.status, { error: 'down' });
        return send(200, { issuer: this.discovery.issuer ?? this.issuer, jwks_uri: `${this.issuer}/keys` });
      }
      if (req.url === '/keys') {
        this.jwksFetches++;
        return send(200, { keys: this.keys });
      }
      send(404, {});
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.issuer = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** a new signing key, published in the JWKS */
  async key(alg = 'RS256', kid = `k${this.keys.length + 1}`): Promise<{ kid: string; alg: string; privateKey: CryptoKey }> {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    this.keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    return { kid, alg, privateKey };
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const sign = (k: { kid: string; alg: string; privateKey: CryptoKey }, claims: Record<string, unknown>, o: { exp?: string | number } = {}): Promise<string> =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: k.alg, kid: k.kid })
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
    .sign(k.privateKey);

describe('OIDC authenticator (kube-apiserver --oidc-*) against a provider on loopback', () => {
  const p = new Provider();
  let key: Awaited<ReturnType<Provider['key']>>;
  const made: OidcAuthenticator[] = [];
  const authn = (o: Partial<OidcOptions> = {}, testing?: { jwksCooldownMs?: number }): OidcAuthenticator => {
    const a = new OidcAuthenticator({ issuerUrl: p.issuer, clientId: 'hedge', ca: p.ca, ...o }, silentLogger(), testing);
    made.push(a);
    return a;
  };
  const base = (): Record<string, unknown> => ({ iss: p.issuer, aud: 'hedge', sub: 'alice-id' });

  before(async () => {
    await p.start();
    key = await p.key();
  });
  after(async () => {
    await Promise.all(made.map((a) => a.close()));
    await p.close();
  });

  it('a valid token: the user is <issuer>#<sub> by default, groups from the groups claim with their prefix', async () => {
    const a = authn({ groupsClaim: 'groups', groupsPrefix: 'oidc:' });
    const t = await sign(key, { ...base(), groups: ['dev', 'ops'] });
    assert.equal(a.handles(t), true);
    assert.deepEqual(await a.authenticate(t), { username: `${p.issuer}#alice-id`, groups: ['oidc:dev', 'oidc:ops'] });
    // a single string is one group
    assert.deepEqual((await a.authenticate(await sign(key, { ...base(), groups: 'dev' }))).groups, ['oidc:dev']);
  });

  it('username from email: no prefix by default, and email_verified must be true when present', async () => {
    const a = authn({ usernameClaim: 'email' });
    assert.equal((await a.authenticate(await sign(key, { ...base(), email: 'a@example.com' }))).username, 'a@example.com');
    assert.equal((await a.authenticate(await sign(key, { ...base(), email: 'b@example.com', email_verified: true }))).username, 'b@example.com');
    await assert.rejects(a.authenticate(await sign(key, { ...base(), email: 'c@example.com', email_verified: false })), /email not verified/);
    await assert.rejects(a.authenticate(await sign(key, base())), /username claims "email": claim not present/);
    // "-" turns the prefix off for other claims
    assert.equal((await authn({ usernamePrefix: '-' }).authenticate(await sign(key, base()))).username, 'alice-id');
    assert.equal((await authn({ usernamePrefix: 'corp:' }).authenticate(await sign(key, base()))).username, 'corp:alice-id');
  });

  it('refuses tokens for another client, expired, signed by an unknown key or with an algorithm not allowed, or missing a required claim', async () => {
    const a = authn({ requiredClaims: { hd: 'example.com' } });
    const ok = { ...base(), hd: 'example.com' };
    assert.equal((await a.authenticate(await sign(key, ok))).username, `${p.issuer}#alice-id`);
    await assert.rejects(a.authenticate(await sign(key, { ...ok, aud: 'other' })), (e: Error) => e.name === 'HedgeError' && /aud/.test(e.message));
    await assert.rejects(a.authenticate(await sign(key, ok, { exp: Math.floor(Date.now() / 1000) - 60 })), /token is expired/);
    await assert.rejects(a.authenticate(await sign(key, { ...ok, hd: 'evil.com' })), /required claim hd to have value example.com/);
    await assert.rejects(a.authenticate(await sign(key, base())), /required claim hd not present/);
    // a key the provider never published (same kid as a real one: the signature is what fails)
    const stranger = await generateKeyPair('RS256');
    await assert.rejects(a.authenticate(await sign({ kid: key.kid, alg: 'RS256', privateKey: stranger.privateKey }, ok)), /failed to verify signature/);
    // ES256 is published but only RS256 is allowed (the default)
    const ec = await p.key('ES256');
    await assert.rejects(a.authenticate(await sign(ec, ok)), /algorithm is not accepted/);
    assert.equal((await authn({ signingAlgs: ['ES256'] }).authenticate(await sign(ec, base()))).username, `${p.issuer}#alice-id`);
  });

  it('tokens of other issuers and non-JWTs are not its own', async () => {
    const a = authn();
    assert.equal(a.handles('static-token'), false);
    assert.equal(a.handles('a.b.c'), false);
    assert.equal(a.handles(await sign(key, { ...base(), iss: 'https://elsewhere.example' })), false);
  });

  it('a key the provider adds later (rotation) is fetched when a token names it', async () => {
    const a = authn({}, { jwksCooldownMs: 0 });
    assert.ok(await a.authenticate(await sign(key, base())));
    const before = p.jwksFetches;
    const rotated = await p.key();
    assert.equal((await a.authenticate(await sign(rotated, base()))).username, `${p.issuer}#alice-id`);
    assert.equal(p.jwksFetches, before + 1, 'one JWKS fetch for the new kid');
  });

  it('a verified token is remembered: the JWKS is not fetched again for it', async () => {
    const a = authn({}, { jwksCooldownMs: 0 });
    const t = await sign(key, base());
    await a.authenticate(t);
    const fetches = p.jwksFetches;
    for (let i = 0; i < 5; i++) await a.authenticate(t);
    assert.equal(p.jwksFetches, fetches);
  });

  it('until discovery answers with its own issuer, tokens fail as not initialized; then they work', async () => {
    p.discovery = { status: 500 };
    const a = authn();
    try {
      a.start();
      const t = await sign(key, base());
      await assert.rejects(a.authenticate(t), /not initialized/);
      p.discovery = { status: 200, issuer: 'https://impostor.example' };
      await new Promise((r) => setTimeout(r, 1100));
      await assert.rejects(a.authenticate(t), /not initialized/);
      p.discovery = { status: 200 };
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await a.authenticate(t)).username, `${p.issuer}#alice-id`);
    } finally {
      p.discovery = { status: 200 };
    }
  });

  it('options are checked: https issuer, a client id, known algorithms', () => {
    assert.throws(() => authn({ issuerUrl: 'http://127.0.0.1:1' }), /must use https/);
    assert.throws(() => authn({ clientId: '' }), /--oidc-client-id: required/);
    assert.throws(() => authn({ signingAlgs: ['HS256'] }), /HS256 is not supported/);
  });

  it('through the apiserver: requests, kubectl auth whoami (SelfSubjectReview) and TokenReview know the user; a bad token is a bare 401', async () => {
    const oidc = authn({ groupsClaim: 'groups', usernamePrefix: 'oidc:' });
    const s = await startTestServer({ oidc });
    try {
      const good = await sign(key, { ...base(), groups: ['team'] });
      const who = await s.json<{ status: { userInfo: { username: string; groups: string[] } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        method: 'POST',
        headers: { authorization: `Bearer ${good}`, 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
      });
      assert.equal(who.status, 201, JSON.stringify(who.body));
      assert.equal(who.body.status.userInfo.username, 'oidc:alice-id');
      assert.deepEqual(who.body.status.userInfo.groups, ['team', 'system:authenticated']);
      // no RBAC grant: authenticated, then forbidden by name
      const list = await s.json<{ message: string }>('/api/v1/secrets', { headers: { authorization: `Bearer ${good}` } });
      assert.equal(list.status, 403);
      assert.match(list.body.message, /User "oidc:alice-id" cannot list resource "secrets"/);
      const bad = await s.json<{ message: string }>('/api/v1/secrets', { headers: { authorization: `Bearer ${await sign(key, { ...base(), aud: 'other' })}` } });
      assert.equal(bad.status, 401);
      assert.equal(bad.body.message, 'Unauthorized');
      const review = async (token: string): Promise<{ authenticated?: boolean; user?: { username: string }; error?: string }> =>
        ((await s.json<{ status: Record<string, unknown> }>('/apis/authentication.k8s.io/v1/tokenreviews', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
        })).body.status) as { authenticated?: boolean; user?: { username: string }; error?: string };
      const r = await review(good);
      assert.equal(r.authenticated, true);
      assert.equal(r.user?.username, 'oidc:alice-id');
      const expired = await review(await sign(key, base(), { exp: Math.floor(Date.now() / 1000) - 60 }));
      assert.notEqual(expired.authenticated, true);
      assert.match(expired.error ?? '', /token is expired/);
    } finally {
      await s.close();
    }
  });
});
