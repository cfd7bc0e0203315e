/**
 * The node server's reviews through a real edgehub, as the agent wires them: online the hub
 * passes TokenReview and SubjectAccessReview to the cloud with the node's credentials; with the
 * link cut (or swallowing traffic) cached answers keep working and new questions are a 503 that
 * says so, quickly; back online, new questions are answered again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../api/object.ts';
import { startHubRig, type HubRig } from '../../edgehub/testing/hub-rig.ts';
import { silentLogger } from '../../lib/log.ts';
import { apiAccessReviews } from './auth/access-reviews.ts';
import { startNodeServer, type NodeServer, type RouteHandler } from './node-server.ts';

const NODE = 'edge-offline';
const obj = (o: Record<string, unknown>): KubeObject => o as KubeObject;
const SA_REF = { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true };
const RBAC = (plural: string, kind: string) => ({ group: 'rbac.authorization.k8s.io', version: 'v1', kind, plural, namespaced: false });

describe('node server reviews through the edgehub, online and offline', () => {
  let dir: string;
  let rig: HubRig;
  let srv: NodeServer;
  const tokens: Record<string, string> = {};
  const get = async (path: string, token: string): Promise<{ status: number; message: string }> => {
    const r = await fetch(`http://127.0.0.1:${srv.port}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await r.text();
    return { status: r.status, message: r.status === 200 ? text : ((JSON.parse(text) as { message?: string }).message ?? '') };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-node-offline-'));
    rig = await startHubRig({
      nodeName: NODE,
      dir,
      // the node's own credential (test authenticator: node-<name> is system:node:<name>)
      token: `node-${NODE}`,
      seed: async (a) => {
        for (const name of ['scraper', 'late', 'later']) await a.create(SA_REF, obj({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'default' } }));
        await a.create(RBAC('clusterroles', 'ClusterRole'), obj({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'node-stats' }, rules: [{ apiGroups: [''], resources: ['nodes/stats'], verbs: ['get'] }] }));
        await a.create(
          RBAC('clusterrolebindings', 'ClusterRoleBinding'),
          obj({
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'ClusterRoleBinding',
            metadata: { name: 'node-stats' },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'node-stats' },
            subjects: ['scraper', 'late', 'later'].map((name) => ({ kind: 'ServiceAccount', name, namespace: 'default' })),
          }),
        );
      },
      hub: { healthIntervalMs: 100, healthTimeoutMs: 500 },
    });
    for (const name of ['scraper', 'late', 'later']) {
      const r = await rig.cloud.json<{ status: { token: string } }>(`/api/v1/namespaces/default/serviceaccounts/${name}/token`, { method: 'POST', body: JSON.stringify({ spec: {} }), headers: { 'content-type': 'application/json' } });
      tokens[name] = r.body.status.token;
    }
    const routes = new Map<string, RouteHandler>([['/stats/summary', (_req, res) => void res.end('{}')]]);
    srv = await startNodeServer({
      host: '127.0.0.1',
      port: 0,
      auth: { clientCerts: false, authorization: 'Webhook' },
      nodeName: NODE,
      reviews: apiAccessReviews(rig.local),
      authTuning: { reviewTimeoutMs: 2_000 },
      pods: { pods: () => [], locate: () => undefined },
      routes,
      logger: silentLogger(),
    });
  });
  after(async () => {
    await srv?.close();
    await rig?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('online: the hub passes the reviews to the cloud as the node', async () => {
    assert.equal((await get('/stats/summary', tokens.scraper)).status, 200);
    const pods = await get('/pods', tokens.scraper);
    assert.equal(pods.status, 403);
    assert.equal(pods.message, 'Forbidden (user=system:serviceaccount:default:scraper, verb=get, resource=nodes, subresource=proxy)');
    assert.equal((await get('/stats/summary', 'forged')).status, 401);
  });

  it('offline: cached answers hold; a new token or question is a 503 naming what could not be asked', async () => {
    rig.link.cut();
    await rig.hub.waitFor('offline');
    assert.equal((await get('/stats/summary', tokens.scraper)).status, 200, 'cached token and allowance');
    assert.equal((await get('/pods', tokens.scraper)).status, 403, 'cached refusal');
    const t0 = Date.now();
    const fresh = await get('/stats/summary', tokens.late);
    assert.equal(fresh.status, 503);
    assert.match(fresh.message, /^cannot authenticate the bearer token now: TokenReview failed: .*unreachable/);
    assert.ok(Date.now() - t0 < 1_500, 'the hub answers 503 at once offline');
    const question = await get('/metrics/cadvisor', tokens.scraper);
    assert.equal(question.status, 503);
    assert.match(question.message, /^cannot authorize \(user=system:serviceaccount:default:scraper, verb=get, resource=nodes, subresource=metrics\) now: SubjectAccessReview failed/);
  });

  it('back online: new questions are answered again', async () => {
    rig.link.restore();
    await rig.hub.waitFor('online');
    assert.equal((await get('/stats/summary', tokens.late)).status, 200);
  });

  it('a link that swallows traffic: a 503 within the review timeout, not a hang', async () => {
    rig.link.blackhole();
    const t0 = Date.now();
    const r = await get('/stats/summary', tokens.later);
    assert.equal(r.status, 503);
    assert.ok(Date.now() - t0 < 4_000, `answered after ${Date.now() - t0} ms`);
    rig.link.restore();
    await rig.hub.waitFor('online');
  });
});
