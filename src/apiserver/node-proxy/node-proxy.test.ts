import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startFakeKubelet, nodeAt, podOn, type FakeKubelet } from '../testing/fake-kubelet.ts';
import { startTestServer, testToken, type TestServer } from '../testing/test-server.ts';

describe('pods/log and pods/exec through the node', () => {
  let t: TestServer;
  let kubelet: FakeKubelet;

  const post = async (path: string, body: unknown): Promise<void> => {
    const r = await t.json(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };

  before(async () => {
    kubelet = await startFakeKubelet();
    t = await startTestServer({ kubeletClient: { scheme: 'http' } });
    await post('/api/v1/nodes', nodeAt('edge-1', kubelet.port));
    await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'no-address' } });
    await post('/api/v1/namespaces/default/pods', podOn('web', 'edge-1'));
    await post('/api/v1/namespaces/default/pods', podOn('two', 'edge-1', ['a', 'b']));
    await post('/api/v1/namespaces/default/pods', podOn('pending', undefined));
    await post('/api/v1/namespaces/default/pods', podOn('lost', 'no-address'));
  });
  after(async () => {
    await t.close();
    await kubelet.close();
  });

  it('streams a container log and forwards the options', async () => {
    const r = await t.request('/api/v1/namespaces/default/pods/web/log?tailLines=2&timestamps=true&container=main');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await r.text(), 'hello from main\nsecond line\n');
    assert.equal(kubelet.seen.at(-1), '/containerLogs/default/web/main?timestamps=true&tailLines=2');
  });

  it('picks the only container and names the choices when there are several', async () => {
    assert.equal(await (await t.request('/api/v1/namespaces/default/pods/web/log')).text(), 'hello from main\nsecond line\n');
    const r = await t.json<{ message: string; code: number }>('/api/v1/namespaces/default/pods/two/log');
    assert.equal(r.status, 400);
    assert.equal(r.body.message, 'a container name must be specified for pod two, choose one of: [a b]');
    const bad = await t.json<{ message: string }>('/api/v1/namespaces/default/pods/two/log?container=zzz');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.message, 'container zzz is not valid for pod two');
  });

  it('answers client mistakes with 4xx Status, node trouble with 503', async () => {
    assert.equal((await t.json('/api/v1/namespaces/default/pods/nope/log')).status, 404);
    const pending = await t.json<{ message: string; kind: string }>('/api/v1/namespaces/default/pods/pending/log');
    assert.equal(pending.status, 400);
    assert.equal(pending.body.kind, 'Status');
    assert.equal(pending.body.message, 'pod pending does not have a host assigned');
    assert.equal((await t.json('/api/v1/namespaces/default/pods/web/log?tailLines=-1')).status, 400);
    assert.equal((await t.json('/api/v1/namespaces/default/pods/web/log?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z')).status, 400);
    assert.equal((await t.json('/api/v1/namespaces/default/pods/lost/log')).status, 503);
    assert.equal((await t.json('/api/v1/namespaces/default/pods/web/log', { method: 'POST', body: '{}' })).status, 405);
  });

  it('passes the node refusal on with its code', async () => {
    await post('/api/v1/namespaces/default/pods', podOn('waiting', 'edge-1', ['missing']));
    const r = await t.json<{ message: string }>('/api/v1/namespaces/default/pods/waiting/log');
    assert.equal(r.status, 400);
    assert.match(r.body.message, /is waiting to start/);
  });

  it('follows until the client leaves, then the node stream is closed', async () => {
    const ac = new AbortController();
    const r = await t.request('/api/v1/namespaces/default/pods/web/log?follow=true', { signal: ac.signal });
    assert.equal(r.status, 200);
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('line 2\n')) {
      const { value, done } = await reader.read();
      assert.equal(done, false, 'stream ended before line 2');
      text += Buffer.from(value as Uint8Array).toString();
    }
    assert.equal(text, 'line 1\nline 2\n');
    ac.abort();
    await kubelet.followClosed(1);
  });

  it('relays a WebSocket exec to the node', async () => {
    const url = `${t.url.replace('http', 'ws')}/api/v1/namespaces/default/pods/web/exec?command=echo&command=hi&stdout=true&stderr=true`;
    const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${testToken}` } });
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer) => frames.push(d));
    await new Promise<void>((resolve, reject) => {
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    assert.equal(ws.protocol, 'v5.channel.k8s.io');
    assert.equal(frames[0][0], 1);
    assert.equal(frames[0].subarray(1).toString(), 'hi\n');
    assert.equal(frames[1][0], 3);
    assert.equal(kubelet.seen.at(-1), '/exec/default/web/main?output=1&error=1&command=echo&command=hi');
  });

  it('refuses a bad exec upgrade with a Status', async () => {
    const url = `${t.url.replace('http', 'ws')}/api/v1/namespaces/default/pods/web/exec?command=ls`;
    const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${testToken}` } });
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('open', () => reject(new Error('upgraded')));
      ws.on('error', () => undefined);
    });
    assert.equal(res.status, 400);
    assert.equal((JSON.parse(res.body) as { message: string }).message, 'you must specify at least 1 of stdin, stdout, stderr');
    const anon = new WebSocket(url.replace('command=ls', 'command=ls&stdout=1'), ['v5.channel.k8s.io']);
    const code = await new Promise<number>((resolve) => {
      anon.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
      anon.on('error', () => undefined);
    });
    assert.equal(code, 403, 'system:anonymous may not exec');
  });
});
