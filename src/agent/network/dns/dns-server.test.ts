import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { formatIp, parseIp } from '../../../lib/cidr.ts';
import { silentLogger } from '../../../lib/log.ts';
import { ClusterZone } from './cluster-zone.ts';
import { DnsServer } from './dns-server.ts';
import { Forwarder } from './forwarder.ts';
import { RCode, RRType, encodeQuery, encodeResponse, parseMessage, parseQuery, type ParsedMessage } from './wire.ts';

let nextId = 1;

function udpQuery(port: number, msg: Buffer): Promise<ParsedMessage> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('udp query timed out'));
    }, 10_000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(parseMessage(m));
    });
    s.send(msg, port, '127.0.0.1');
  });
}

function tcpQuery(port: number, msg: Buffer): Promise<ParsedMessage> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    s.on('error', reject);
    s.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      s.write(Buffer.concat([len, msg]));
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        s.destroy();
        resolve(parseMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      }
    });
  });
}

const ask = (port: number, name: string, type: number, opts: { tcp?: boolean; edns?: number } = {}): Promise<ParsedMessage> =>
  (opts.tcp ? tcpQuery : udpQuery)(port, encodeQuery(nextId++, name, type, opts.edns));

const svc = (ns: string, name: string, spec: Service['spec']): Service => ({ metadata: { namespace: ns, name }, spec });
const slice = (ns: string, svcName: string, name: string, endpoints: EndpointSlice['endpoints'], ports: EndpointSlice['ports']): EndpointSlice => ({
  metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  endpoints,
  ports,
});

/** A loopback stand-in for the host's resolver: answers every A question with 192.0.2.7. */
async function startUpstream(): Promise<{ port: number; seen: string[]; close(): Promise<void> }> {
  const s = createSocket('udp4');
  const seen: string[] = [];
  s.on('message', (m, r) => {
    const q = parseQuery(m);
    seen.push(q.question.name);
    const out = encodeResponse({ id: q.id, rd: q.rd, opcode: 0, aa: true, rcode: RCode.NoError, question: q.question, answers: [{ name: q.question.name, ttl: 30, type: 'A', address: '192.0.2.7' }], authority: [], additional: [] });
    s.send(out, r.port, r.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, seen, close: () => new Promise((r) => s.close(() => r())) };
}

describe('DnsServer', () => {
  const zone = new ClusterZone('cluster.local');
  let server: DnsServer;
  let port = 0;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;

  before(async () => {
    upstream = await startUpstream();
    zone.setService(svc('default', 'web', { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 81 }] }));
    zone.setService(svc('db', 'pg', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }));
    zone.setSlice(slice('db', 'pg', 'pg-abc', [
      { addresses: ['10.244.0.5'], hostname: 'pg-0', conditions: { ready: true } },
      { addresses: ['10.244.0.6'], conditions: { ready: true } },
      { addresses: ['10.244.0.7'], conditions: { ready: false } },
    ], [{ name: 'pg', port: 5432, protocol: 'TCP' }]));
    zone.setService(svc('default', 'ext', { type: 'ExternalName', externalName: 'db.example.test' }));
    zone.setService(svc('big', 'many', { clusterIP: 'None' }));
    zone.setSlice(slice('big', 'many', 'many-1', Array.from({ length: 60 }, (_, i) => ({ addresses: [`10.244.1.${i + 1}`] })), []));
    server = new DnsServer({ zone, forwarder: new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.port }], timeoutMs: 1_000 }), logger: silentLogger() });
    port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
  });
  after(async () => {
    await server.close();
    await upstream.close();
  });

  it('answers a ClusterIP Service by its full name, authoritatively, with a 5 s TTL', async () => {
    const r = await ask(port, 'web.default.svc.cluster.local', RRType.A);
    assert.equal(r.rcode, RCode.NoError);
    assert.equal(r.flags.aa, true);
    assert.deepEqual(r.answers.map((a) => [a.name, a.ttl, a.data]), [['web.default.svc.cluster.local', 5, { type: 'A', address: '10.96.0.10' }]]);
  });

  it('is case-insensitive', async () => {
    const r = await ask(port, 'WEB.Default.svc.Cluster.Local', RRType.A);
    assert.deepEqual(r.answers.map((a) => a.data), [{ type: 'A', address: '10.96.0.10' }]);
  });

  it('NODATA (with the SOA) for a type the name lacks; NXDOMAIN for a name that does not exist', async () => {
    const aaaa = await ask(port, 'web.default.svc.cluster.local', RRType.AAAA);
    assert.equal(aaaa.rcode, RCode.NoError);
    assert.equal(aaaa.answers.length, 0);
    assert.equal(aaaa.authority[0]?.data.type, 'SOA');
    const nx = await ask(port, 'nope.default.svc.cluster.local', RRType.A);
    assert.equal(nx.rcode, RCode.NXDomain);
    assert.equal(nx.authority[0]?.data.type, 'SOA');
    // the namespace level exists (an empty non-terminal): NODATA, not NXDOMAIN
    const ent = await ask(port, 'default.svc.cluster.local', RRType.A);
    assert.equal(ent.rcode, RCode.NoError);
    // what a search path makes of an outside name is ours to deny, not to forward
    const searched = await ask(port, 'example.test.default.svc.cluster.local', RRType.A);
    assert.equal(searched.rcode, RCode.NXDomain);
    assert.equal(upstream.seen.includes('example.test.default.svc.cluster.local'), false);
  });

  it('SRV for a named port, with the target address in the additional section', async () => {
    const r = await ask(port, '_http._tcp.web.default.svc.cluster.local', RRType.SRV);
    assert.deepEqual(r.answers.map((a) => a.data), [{ type: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }]);
    assert.deepEqual(r.additional.map((a) => a.data), [{ type: 'A', address: '10.96.0.10' }]);
    const unnamed = await ask(port, '_81._tcp.web.default.svc.cluster.local', RRType.SRV);
    assert.equal(unnamed.rcode, RCode.NXDomain);
  });

  it('a headless Service answers its ready endpoints, hostnames and per-endpoint SRV targets', async () => {
    const r = await ask(port, 'pg.db.svc.cluster.local', RRType.A);
    assert.deepEqual(r.answers.map((a) => (a.data.type === 'A' ? a.data.address : '')).sort(), ['10.244.0.5', '10.244.0.6']);
    const host = await ask(port, 'pg-0.pg.db.svc.cluster.local', RRType.A);
    assert.deepEqual(host.answers.map((a) => a.data), [{ type: 'A', address: '10.244.0.5' }]);
    const srv = await ask(port, '_pg._tcp.pg.db.svc.cluster.local', RRType.SRV);
    const targets = srv.answers.map((a) => (a.data.type === 'SRV' ? `${a.data.target}:${a.data.port}:${a.data.weight}` : '')).sort();
    assert.deepEqual(targets, ['10-244-0-6.pg.db.svc.cluster.local:5432:50', 'pg-0.pg.db.svc.cluster.local:5432:50']);
    const notReady = await ask(port, '10-244-0-7.pg.db.svc.cluster.local', RRType.A);
    assert.equal(notReady.rcode, RCode.NXDomain);
  });

  it('PTR for ClusterIPs and headless hostnames; other reverse names are forwarded', async () => {
    const r = await ask(port, '10.0.96.10.in-addr.arpa', RRType.PTR);
    assert.deepEqual(r.answers.map((a) => a.data), [{ type: 'PTR', target: 'web.default.svc.cluster.local' }]);
    const h = await ask(port, '5.0.244.10.in-addr.arpa', RRType.PTR);
    assert.deepEqual(h.answers.map((a) => a.data), [{ type: 'PTR', target: 'pg-0.pg.db.svc.cluster.local' }]);
    await ask(port, '1.2.0.192.in-addr.arpa', RRType.PTR);
    assert.ok(upstream.seen.includes('1.2.0.192.in-addr.arpa'));
  });

  it('ExternalName is a CNAME', async () => {
    const r = await ask(port, 'ext.default.svc.cluster.local', RRType.A);
    assert.deepEqual(r.answers.map((a) => a.data), [{ type: 'CNAME', target: 'db.example.test' }]);
  });

  it('pod A records from the dashed address', async () => {
    const r = await ask(port, '10-244-3-4.default.pod.cluster.local', RRType.A);
    assert.deepEqual(r.answers.map((a) => a.data), [{ type: 'A', address: '10.244.3.4' }]);
  });

  it('forwards outside names to the upstream; SERVFAIL when it is down', async () => {
    const r = await ask(port, 'example.test', RRType.A);
    assert.equal(r.flags.aa, true, 'the upstream answer passes through unchanged');
    assert.deepEqual(r.answers.map((a) => a.data), [{ type: 'A', address: '192.0.2.7' }]);
    assert.ok(upstream.seen.includes('example.test'));
    const dead = new DnsServer({ zone, forwarder: new Forwarder({ upstreams: [{ host: '127.0.0.1', port: 9 }], timeoutMs: 300 }), logger: silentLogger() });
    const deadPort = (await dead.listen({ host: '127.0.0.1', port: 0 })).port;
    try {
      const f = await ask(deadPort, 'example.test', RRType.A);
      assert.equal(f.rcode, RCode.ServFail);
      // cluster names still answer with no upstream at all
      const c = await ask(deadPort, 'web.default.svc.cluster.local', RRType.A);
      assert.equal(c.answers.length, 1);
    } finally {
      await dead.close();
    }
  });

  it('truncates an answer too big for 512-byte UDP; TCP and EDNS carry it whole', async () => {
    const udp = await ask(port, 'many.big.svc.cluster.local', RRType.A);
    assert.equal(udp.flags.tc, true);
    assert.equal(udp.answers.length, 0);
    const tcp = await ask(port, 'many.big.svc.cluster.local', RRType.A, { tcp: true });
    assert.equal(tcp.flags.tc, false);
    assert.equal(tcp.answers.length, 60);
    const edns = await ask(port, 'many.big.svc.cluster.local', RRType.A, { edns: 4096 });
    assert.equal(edns.flags.tc, false);
    assert.equal(edns.answers.length, 60);
  });

  it('FORMERR for a malformed query; silence for a response sent to it', async () => {
    const bad = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 0x61]);
    const r = await udpQuery(port, bad);
    assert.equal(r.id, 0x1234);
    assert.equal(r.rcode, RCode.FormErr);
    assert.equal(await server.answer(encodeResponse({ id: 1, rd: false, opcode: 0, aa: false, rcode: 0, answers: [], authority: [], additional: [] }), 'udp'), undefined);
  });

  it('dual-stack: A and AAAA for a Service with an IPv6 ClusterIP, AAAA for IPv6 headless endpoints, ip6.arpa PTR', async () => {
    zone.setService(svc('dual', 'web', { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20', 'fd00:96::20'], ipFamilies: ['IPv4', 'IPv6'], ports: [{ name: 'http', port: 80 }] }));
    zone.setService(svc('dual', 'hl', { clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4', 'IPv6'] }));
    zone.setSlice(slice('dual', 'hl', 'hl-v4', [{ addresses: ['10.244.0.30'], hostname: 'hl-0', conditions: { ready: true } }], []));
    zone.setSlice({ ...slice('dual', 'hl', 'hl-v6', [{ addresses: ['fd00:10:244::30'], hostname: 'hl-0', conditions: { ready: true } }], []), addressType: 'IPv6' });
    // the test's decoder spells IPv6 in full; compare canonical forms
    const canon = (d: { type: string; address?: string }): unknown => (d.type === 'AAAA' && d.address ? { ...d, address: formatIp(6, parseIp(d.address)!.value) } : d);
    try {
      const a = await ask(port, 'web.dual.svc.cluster.local', RRType.A);
      assert.deepEqual(a.answers.map((x) => x.data), [{ type: 'A', address: '10.96.0.20' }]);
      const aaaa = await ask(port, 'web.dual.svc.cluster.local', RRType.AAAA);
      assert.deepEqual(aaaa.answers.map((x) => canon(x.data)), [{ type: 'AAAA', address: 'fd00:96::20' }]);
      const srv = await ask(port, '_http._tcp.web.dual.svc.cluster.local', RRType.SRV);
      assert.deepEqual(srv.additional.map((x) => x.data.type).sort(), ['A', 'AAAA']);
      const ptr = await ask(port, `${[...'fd000096000000000000000000000020'].reverse().join('.')}.ip6.arpa`, RRType.PTR);
      assert.deepEqual(ptr.answers.map((x) => x.data), [{ type: 'PTR', target: 'web.dual.svc.cluster.local' }]);
      const hl = await ask(port, 'hl.dual.svc.cluster.local', RRType.AAAA);
      assert.deepEqual(hl.answers.map((x) => canon(x.data)), [{ type: 'AAAA', address: 'fd00:10:244::30' }]);
      const host = await ask(port, 'hl-0.hl.dual.svc.cluster.local', RRType.AAAA);
      assert.deepEqual(host.answers.map((x) => canon(x.data)), [{ type: 'AAAA', address: 'fd00:10:244::30' }]);
      const host4 = await ask(port, 'hl-0.hl.dual.svc.cluster.local', RRType.A);
      assert.deepEqual(host4.answers.map((x) => x.data), [{ type: 'A', address: '10.244.0.30' }]);
    } finally {
      zone.deleteService(svc('dual', 'web', {}));
      zone.deleteService(svc('dual', 'hl', {}));
    }
  });

  it('follows Service and slice changes', async () => {
    zone.setService(svc('default', 'late', { clusterIP: '10.96.0.77' }));
    const r = await ask(port, 'late.default.svc.cluster.local', RRType.A);
    assert.equal(r.answers.length, 1);
    zone.deleteService(svc('default', 'late', {}));
    const gone = await ask(port, 'late.default.svc.cluster.local', RRType.A);
    assert.equal(gone.rcode, RCode.NXDomain);
  });
});
