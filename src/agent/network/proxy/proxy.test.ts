import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import { silentLogger } from '../../../lib/log.ts';
import { buildModel, type EndpointSliceObject, type ServiceObject } from './model.ts';
import { recordingNft, until } from '../testing/recording-nft.ts';
import { ServiceProxy } from './proxy.ts';
import { renderDelete, renderRuleset } from './render.ts';
import { socketLbSkip, type SocketLb } from './socket-lb.ts';
import type { ProxyServicePort } from './model.ts';
import { createNetns, removeNetns } from '../netns.ts';
import { inNetns, randomSuffix } from '../test-helpers.ts';
import { runChecked } from '../../host/run-command.ts';

function service(name: string, spec: ServiceObject['spec'], annotations?: Record<string, string>): ServiceObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', annotations }, spec } as ServiceObject;
}

type Ep = { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean };
function slice(svc: string, name: string, port: number, eps: Ep[], portName = 'http'): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false } })),
  } as EndpointSliceObject;
}

const web = service('web', { clusterIP: '10.96.0.20', type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] });
const webSlice = slice('web', 'web-abc', 8080, [
  { ip: '10.244.0.5', node: 'edge-a' },
  { ip: '10.244.1.7', node: 'edge-b' },
  { ip: '10.244.0.9', node: 'edge-a', ready: false },
]);

test('the model: ready endpoints only, terminating fallback, internalTrafficPolicy Local, PreferClose, headless and ExternalName skipped', () => {
  const sticky = service('sticky', { clusterIP: '10.96.0.21', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [{ name: 'http', port: 80 }] });
  const local = service('local', { clusterIP: '10.96.0.22', internalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] });
  const close = service('close', { clusterIP: '10.96.0.23', trafficDistribution: 'PreferClose', ports: [{ name: 'http', port: 80 }] } as ServiceObject['spec']);
  const draining = service('draining', { clusterIP: '10.96.0.24', ports: [{ name: 'http', port: 80 }] });
  const headless = service('headless', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] });
  const ext = service('ext', { type: 'ExternalName', externalName: 'example.org' });
  const eps: Ep[] = [{ ip: '10.244.0.5', node: 'edge-a' }, { ip: '10.244.1.7', node: 'edge-b' }];
  const model = buildModel(
    [web, sticky, local, close, draining, headless, ext],
    [
      webSlice,
      slice('sticky', 's1', 8080, eps),
      slice('local', 'l1', 8080, eps),
      slice('close', 'c1', 8080, eps),
      slice('draining', 'd1', 8080, [{ ip: '10.244.0.5', ready: false, serving: true, terminating: true }, { ip: '10.244.0.6', ready: false, serving: false }]),
      slice('headless', 'h1', 8080, eps),
    ],
    { nodeName: 'edge-a' },
  );
  const by = new Map(model.map((p) => [p.id, p]));
  assert.deepEqual([...by.keys()].sort(), ['default/close/tcp/http', 'default/draining/tcp/http', 'default/local/tcp/http', 'default/sticky/tcp/http', 'default/web/tcp/http']);
  assert.deepEqual(by.get('default/web/tcp/http')?.endpoints, [{ ip: '10.244.0.5', port: 8080 }, { ip: '10.244.1.7', port: 8080 }]);
  assert.equal(by.get('default/web/tcp/http')?.nodePort, 30080);
  assert.equal(by.get('default/sticky/tcp/http')?.affinitySeconds, 60);
  assert.deepEqual(by.get('default/local/tcp/http')?.endpoints, [{ ip: '10.244.0.5', port: 8080 }]);
  assert.deepEqual(by.get('default/close/tcp/http')?.endpoints, [{ ip: '10.244.0.5', port: 8080 }]);
  assert.deepEqual(by.get('default/draining/tcp/http')?.endpoints, [{ ip: '10.244.0.5', port: 8080 }]);
  // on a node with no local endpoint, Local has none and PreferClose falls back to all
  const other = new Map(buildModel([local, close], [slice('local', 'l1', 8080, eps), slice('close', 'c1', 8080, eps)], { nodeName: 'edge-c' }).map((p) => [p.id, p]));
  assert.deepEqual(other.get('default/local/tcp/http')?.endpoints, []);
  assert.equal(other.get('default/close/tcp/http')?.endpoints.length, 2);
});

const GOLDEN_FIRST = `table ip hedge-proxy {
}
delete table ip hedge-proxy
table ip hedge-proxy {
  map svc-ips {
    type ipv4_addr . inet_proto . inet_service : verdict;
    elements = { 10.96.0.20 . tcp . 80 : goto svc-default/web/tcp/http }
  }
  map svc-nodeports {
    type inet_proto . inet_service : verdict;
    elements = { tcp . 30080 : goto ext-default/web/tcp/http }
  }
  set no-endpoints {
    type ipv4_addr . inet_proto . inet_service;
    elements = { 10.96.0.30 . udp . 53 }
  }
  set aff-default/web/tcp/http/10.244.0.5_8080 {
    type ipv4_addr; flags dynamic,timeout; timeout 10800s;
  }
  set aff-default/web/tcp/http/10.244.1.7_8080 {
    type ipv4_addr; flags dynamic,timeout; timeout 10800s;
  }
  chain ext-default/web/tcp/http {
    meta mark set meta mark | 0x4000
    goto svc-default/web/tcp/http
  }
  chain svc-default/web/tcp/http {
    ip saddr @aff-default/web/tcp/http/10.244.0.5_8080 goto ep-default/web/tcp/http/10.244.0.5_8080
    ip saddr @aff-default/web/tcp/http/10.244.1.7_8080 goto ep-default/web/tcp/http/10.244.1.7_8080
    numgen random mod 2 vmap { 0 : goto ep-default/web/tcp/http/10.244.0.5_8080, 1 : goto ep-default/web/tcp/http/10.244.1.7_8080 }
  }
  chain ep-default/web/tcp/http/10.244.0.5_8080 {
    ip saddr 10.244.0.5 meta mark set meta mark | 0x4000
    update @aff-default/web/tcp/http/10.244.0.5_8080 { ip saddr }
    meta l4proto tcp dnat to 10.244.0.5:8080
  }
  chain ep-default/web/tcp/http/10.244.1.7_8080 {
    ip saddr 10.244.1.7 meta mark set meta mark | 0x4000
    update @aff-default/web/tcp/http/10.244.1.7_8080 { ip saddr }
    meta l4proto tcp dnat to 10.244.1.7:8080
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @svc-ips
    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @svc-nodeports
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump services
  }
  chain output {
    type nat hook output priority -100; policy accept;
    jump services
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    meta mark & 0x4000 == 0x4000 meta mark set meta mark ^ 0x4000 masquerade
  }
  chain filter-forward {
    type filter hook forward priority -10; policy accept;
    ct state new ip daddr . meta l4proto . th dport @no-endpoints reject
  }
  chain filter-output {
    type filter hook output priority -10; policy accept;
    ct state new ip daddr . meta l4proto . th dport @no-endpoints reject
  }
}
`;

test('render: golden text of a first sync (NodePort, ClientIP affinity, hairpin, a Service without endpoints)', () => {
  const ports = [
    { id: 'default/web/tcp/http', clusterIP: '10.96.0.20', protocol: 'tcp' as const, port: 80, nodePort: 30080, affinitySeconds: 10800, endpoints: [{ ip: '10.244.0.5', port: 8080 }, { ip: '10.244.1.7', port: 8080 }] },
    { id: 'default/dns/udp/dns', clusterIP: '10.96.0.30', protocol: 'udp' as const, port: 53, endpoints: [] },
  ];
  const r = renderRuleset(ports, { table: 'hedge-proxy' });
  assert.equal(r.script, GOLDEN_FIRST);
});

test('render: a later sync sends only the difference', () => {
  const one = { id: 'default/web/tcp/http', clusterIP: '10.96.0.20', protocol: 'tcp' as const, port: 80, endpoints: [{ ip: '10.244.0.5', port: 8080 }, { ip: '10.244.1.7', port: 8080 }] };
  const two = { id: 'default/db/tcp/5432', clusterIP: '10.96.0.21', protocol: 'tcp' as const, port: 5432, endpoints: [{ ip: '10.244.0.8', port: 5432 }] };
  const first = renderRuleset([one, two], { table: 't1' });
  assert.equal(renderRuleset([one, two], { table: 't1' }, first.names).script, '');
  const second = renderRuleset([{ ...one, endpoints: [{ ip: '10.244.0.5', port: 8080 }] }], { table: 't1' }, first.names);
  assert.equal(
    second.script,
    [
      'flush chain ip t1 svc-default/web/tcp/http',
      'table ip t1 {',
      '  chain svc-default/web/tcp/http {',
      '    goto ep-default/web/tcp/http/10.244.0.5_8080',
      '  }',
      '}',
      'delete element ip t1 svc-ips { 10.96.0.21 . tcp . 5432 }',
      'delete chain ip t1 svc-default/db/tcp/5432',
      'delete chain ip t1 ep-default/db/tcp/5432/10.244.0.8_5432',
      'delete chain ip t1 ep-default/web/tcp/http/10.244.1.7_8080',
      '',
    ].join('\n'),
  );
});

test('render: the filter hooks exist only while some Service port has no endpoints', () => {
  const web = { id: 'default/web/tcp/http', clusterIP: '10.96.0.20', protocol: 'tcp' as const, port: 80, endpoints: [{ ip: '10.244.0.5', port: 8080 }] };
  const empty = { id: 'default/dns/udp/dns', clusterIP: '10.96.0.30', protocol: 'udp' as const, port: 53, endpoints: [] };
  const first = renderRuleset([web], { table: 't2' });
  assert.doesNotMatch(first.script, /filter-forward|filter-output|hook forward/);
  const withEmpty = renderRuleset([web, empty], { table: 't2' }, first.names);
  assert.equal(
    withEmpty.script,
    [
      'add element ip t2 no-endpoints { 10.96.0.30 . udp . 53 }',
      'table ip t2 {',
      '  chain filter-forward {',
      '    type filter hook forward priority -10; policy accept;',
      '    ct state new ip daddr . meta l4proto . th dport @no-endpoints reject',
      '  }',
      '  chain filter-output {',
      '    type filter hook output priority -10; policy accept;',
      '    ct state new ip daddr . meta l4proto . th dport @no-endpoints reject',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  assert.equal(renderRuleset([web, empty], { table: 't2' }, withEmpty.names).script, '');
  const back = renderRuleset([web], { table: 't2' }, withEmpty.names);
  assert.equal(back.script, ['delete element ip t2 no-endpoints { 10.96.0.30 . udp . 53 }', 'delete chain ip t2 filter-forward', 'delete chain ip t2 filter-output', ''].join('\n'));
});

test('externalTrafficPolicy: Local — NodePort traffic to this node\'s endpoints only, unmasqueraded; none local: dropped; ClusterIP keeps all', () => {
  const np = service('np', { type: 'NodePort', clusterIP: '10.96.0.40', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30090 }] });
  const eps: Ep[] = [{ ip: '10.244.1.7', node: 'edge-b' }, { ip: '10.244.0.5', node: 'edge-a' }, { ip: '10.244.0.9', node: 'edge-a', ready: false }];
  const [onA] = buildModel([np], [slice('np', 'n1', 8080, eps)], { nodeName: 'edge-a' });
  assert.deepEqual(onA!.endpoints, [{ ip: '10.244.0.5', port: 8080 }, { ip: '10.244.1.7', port: 8080 }]);
  assert.deepEqual(onA!.externalLocal, { localEndpoints: [{ ip: '10.244.0.5', port: 8080 }] });
  const [onC] = buildModel([np], [slice('np', 'n1', 8080, eps)], { nodeName: 'edge-c' });
  assert.deepEqual(onC!.externalLocal, { localEndpoints: [] });
  // Cluster (the default) and ClusterIP-only Services have no external policy to apply
  const cluster = service('c', { type: 'NodePort', clusterIP: '10.96.0.41', ports: [{ name: 'http', port: 80, nodePort: 30091 }] });
  assert.equal(buildModel([cluster], [slice('c', 'c1', 8080, eps)], { nodeName: 'edge-a' })[0]!.externalLocal, undefined);

  const a = renderRuleset([onA!], { table: 't3' }).script;
  const ext = /chain ext-default\/np\/tcp\/http \{\n([^}]*)\}/.exec(a)?.[1] ?? '';
  assert.equal(ext, '    goto ep-default/np/tcp/http/10.244.0.5_8080\n  ');
  assert.doesNotMatch(ext, /mark/, 'no masquerade mark: the client source IP is kept');
  assert.match(a, /chain svc-default\/np\/tcp\/http \{\n {4}numgen random mod 2 /, 'ClusterIP traffic still goes to every endpoint');
  const c = renderRuleset([onC!], { table: 't3' }).script;
  assert.match(c, /chain ext-default\/np\/tcp\/http \{\n {4}drop\n {2}\}/);
  // with ClientIP affinity the ext chain consults the affinity sets, which are declared before it
  const sticky = renderRuleset([{ ...onA!, affinitySeconds: 30 }], { table: 't3' }).script;
  assert.ok(sticky.indexOf('set aff-default/np/tcp/http/10.244.0.5_8080') < sticky.indexOf('chain ext-default/np/tcp/http'));
  assert.match(sticky, /chain ext-default\/np\/tcp\/http \{\n {4}ip saddr @aff-default\/np\/tcp\/http\/10\.244\.0\.5_8080 goto ep-/);
});

test('sync loop: debounced applies through the nft seam, retried after a failure, table removed on stop', async () => {
  const client = new FakeKubeClient();
  const nft = recordingNft();
  const scripts = nft.scripts;

  await client.create(Resources.services, web);
  await client.create(Resources.endpointslices, webSlice);
  const proxy = new ServiceProxy({ client, nodeName: 'edge-a', logger: silentLogger(), table: 'hp-test', nft, debounceMs: 20 });
  const ac = new AbortController();
  const running = proxy.run(ac.signal);
  try {
    await proxy.waitForSync();
    assert.equal(scripts.length, 1);
    assert.match(scripts[0]!, /dnat to 10\.244\.0\.5:8080/);
    assert.match(scripts[0]!, /delete table ip hp-test/);

    // a burst of changes is one apply
    const before = scripts.length;
    for (let i = 0; i < 5; i++) {
      await client.create(Resources.services, service(`s${i}`, { clusterIP: `10.96.1.${i + 1}`, ports: [{ name: 'http', port: 80 }] }));
    }
    await until('the fifth Service programmed', () => /10\.96\.1\.5 \. tcp \. 80/.test(scripts.at(-1) ?? ''));
    assert.ok(scripts.length - before <= 2, `${scripts.length - before} applies for 5 changes`);
    assert.match(scripts.at(-1)!, /^add element ip hp-test no-endpoints \{ .*10\.96\.1\.5 \. tcp \. 80/m);
    assert.doesNotMatch(scripts.at(-1)!, /delete table|flush table/);

    // a failed apply is retried from a clean table
    nft.failNext();
    await client.delete(Resources.services, 's0', { namespace: 'default' });
    await until('the retried apply', () => proxy.stats.failures === 1 && scripts.length > 0 && !/10\.96\.1\.1 /.test(scripts.at(-1) ?? ''));
    assert.equal(proxy.stats.failures, 1);
    assert.match(scripts.at(-1)!, /delete table ip hp-test/);
    assert.doesNotMatch(scripts.at(-1)!, /10\.96\.1\.1 /);
  } finally {
    ac.abort();
    await running;
  }
  assert.equal(scripts.at(-1), 'table ip hp-test {\n}\ndelete table ip hp-test\ntable ip6 hp-test {\n}\ndelete table ip6 hp-test\n');
});

test('socket balancer: started with the loop, fed the model after each nftables apply, closed on stop; one that cannot start leaves the nftables path alone', async () => {
  const client = new FakeKubeClient();
  await client.create(Resources.services, web);
  await client.create(Resources.endpointslices, webSlice);
  const calls: string[] = [];
  const synced: ProxyServicePort[][] = [];
  const lb = (failStart: boolean): SocketLb => ({
    pinDir: '/sys/fs/bpf/hedge-test',
    cgroup: '/sys/fs/cgroup/unified/hedge-test',
    start: async () => {
      calls.push('start');
      if (failStart) throw new Error('no BPF here');
    },
    sync: async (m4) => {
      calls.push('sync');
      synced.push(m4);
      return m4.filter((p) => socketLbSkip(p) === undefined).length;
    },
    close: async () => void calls.push('close'),
  });
  for (const failStart of [false, true]) {
    calls.length = 0;
    synced.length = 0;
    const nft = recordingNft();
    const proxy = new ServiceProxy({ client, nodeName: 'edge-a', logger: silentLogger(), table: 'hp-test', nft, debounceMs: 20, socketLb: lb(failStart) });
    const ac = new AbortController();
    const running = proxy.run(ac.signal);
    try {
      await proxy.waitForSync();
      assert.match(nft.scripts[0]!, /dnat to 10\.244\.0\.5:8080/, 'the nftables path is programmed either way');
      if (failStart) {
        assert.equal(proxy.stats.clusterIPPath, 'nftables');
        assert.deepEqual(calls, ['start']);
      } else {
        assert.equal(proxy.stats.clusterIPPath, 'socket');
        assert.equal(proxy.stats.socketLbPorts, 1);
        assert.deepEqual(calls, ['start', 'sync']);
        // the same endpoints the nftables rules pick among (edge-a's ready one and edge-b's)
        assert.deepEqual(synced[0]!.map((p) => [p.clusterIP, p.endpoints.map((e) => e.ip).sort()]), [['10.96.0.20', ['10.244.0.5', '10.244.1.7']]]);
      }
    } finally {
      ac.abort();
      await running;
    }
    assert.equal(calls.at(-1), failStart ? 'start' : 'close');
    assert.equal(proxy.stats.clusterIPPath, 'nftables');
  }
});

/** a dual-stack Service (as the allocator fills it) and its IPv6 slice */
const dual = service('dual', { clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30', 'fd00:96::30'], ipFamilies: ['IPv4', 'IPv6'], sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
const dualSlice6 = { ...slice('dual', 'dual-v6', 8080, [{ ip: 'fd00:10:244::5', node: 'edge-a' }, { ip: 'fd00:10:244::1:7', node: 'edge-b' }]), addressType: 'IPv6' } as EndpointSliceObject;

test('dual-stack: the IPv6 ClusterIP is programmed from the IPv6 slice in an ip6 table (the IPv4 one from the IPv4 slice), which exists only while needed', async () => {
  const m6 = buildModel([dual, web], [dualSlice6, webSlice], { nodeName: 'edge-a', family: 'IPv6' });
  assert.deepEqual(m6.map((p) => [p.clusterIP, p.endpoints.map((e) => e.ip)]), [['fd00:96::30', ['fd00:10:244::5', 'fd00:10:244::1:7']]]);
  assert.deepEqual(buildModel([dual], [dualSlice6], { nodeName: 'edge-a' }).map((p) => [p.clusterIP, p.endpoints.length]), [['10.96.0.30', 0]]);
  const script = renderRuleset(m6, { table: 'hp', family: 'ip6' }).script;
  for (const want of [
    'table ip6 hp {',
    'type ipv6_addr . inet_proto . inet_service : verdict;',
    'ip6 daddr . meta l4proto . th dport vmap @svc-ips',
    'fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @svc-nodeports',
    'elements = { fd00:96::30 . tcp . 80 : goto svc-default/dual/tcp/http }',
    'type ipv6_addr; flags dynamic,timeout; timeout 10800s;',
    'ip6 saddr @aff-default/dual/tcp/http/fd00.10.244..5_8080 goto ep-default/dual/tcp/http/fd00.10.244..5_8080',
    'update @aff-default/dual/tcp/http/fd00.10.244..5_8080 { ip6 saddr }',
    'meta l4proto tcp dnat to [fd00:10:244::5]:8080',
  ]) {
    assert.ok(script.includes(want), `missing ${want}`);
  }
  assert.doesNotMatch(script, /\bip (daddr|saddr)|ipv4_addr/);

  const client = new FakeKubeClient();
  const nft = recordingNft();
  await client.create(Resources.services, web);
  const proxy = new ServiceProxy({ client, nodeName: 'edge-a', logger: silentLogger(), table: 'hp-test', nft, debounceMs: 20 });
  const ac = new AbortController();
  const running = proxy.run(ac.signal);
  try {
    await proxy.waitForSync();
    // no IPv6 ClusterIP: the ip6 table is removed (a leftover), not created
    assert.match(nft.scripts[0]!, /^delete table ip6 hp-test$/m);
    assert.doesNotMatch(nft.scripts[0]!, /^table ip6 hp-test \{\n {2}map/m);
    await client.create(Resources.services, dual);
    await client.create(Resources.endpointslices, dualSlice6);
    await until('the IPv6 ClusterIP programmed', () => /dnat to \[fd00:10:244::1:7\]:8080/.test(nft.scripts.join('\n')));
    assert.equal(proxy.stats.servicePorts, 3);
    await client.delete(Resources.services, 'dual', { namespace: 'default' });
    await until('the ip6 table removed', () => /^delete table ip6 hp-test$/m.test(nft.scripts.at(-1) ?? ''));
  } finally {
    ac.abort();
    await running;
  }
});

test('dual-stack, in the kernel: a connection to the IPv6 ClusterIP is DNATed to the endpoint (ip6 table, inside a netns of its own)', { skip: process.getuid?.() !== 0 ? 'needs root' : undefined }, async () => {
  const ns = `/run/hedge/proxy-v6-test-${randomSuffix()}`;
  await createNetns(ns);
  try {
    const sh = (cmd: string[]): Promise<unknown> => runChecked('nsenter', [`--net=${ns}`, '--', ...cmd]);
    await sh(['ip', 'link', 'set', 'lo', 'up']);
    await sh(['ip', '-6', 'addr', 'add', 'fd00:10:244::5/128', 'dev', 'lo']);
    // the Service range routed (no address holds a ClusterIP, as on a node)
    await sh(['ip', '-6', 'route', 'add', 'fd00:96::/108', 'dev', 'lo']);
    const one = { ...dualSlice6, endpoints: dualSlice6.endpoints.slice(0, 1) } as EndpointSliceObject;
    const script = renderRuleset(buildModel([dual], [one], { nodeName: 'edge-a', family: 'IPv6' }), { table: 'hp-v6', family: 'ip6' }).script;
    await runChecked('nsenter', [`--net=${ns}`, '--', 'nft', '-f', '-'], { input: script });
    const probe = `const net = require('net');
      const srv = net.createServer((s) => s.end('endpoint ' + s.localAddress + ' ' + s.localPort)).listen(8080, 'fd00:10:244::5', () => {
        const c = net.connect({ host: 'fd00:96::30', port: 80 }); let got = '';
        c.on('data', (d) => (got += d)); c.on('end', () => { console.log(got); srv.close(); });
        c.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
      });`;
    const r = await inNetns(ns, [process.execPath, '-e', probe]);
    assert.equal(r.stdout.trim(), 'endpoint fd00:10:244::5 8080', r.stderr);
    await runChecked('nsenter', [`--net=${ns}`, '--', 'nft', '-f', '-'], { input: renderDelete('hp-v6', 'ip6') });
  } finally {
    await removeNetns(ns);
  }
});
