import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDefaultNetworkAnnotation, parseNetworksAnnotation, referencedNetworks, renderNetworkStatus } from './multus.ts';

test('networks: the comma form with namespaces and @interface', () => {
  assert.deepEqual(parseNetworksAnnotation(' lan , infra/sto@st0,x@net5', 'shop'), {
    ok: true,
    selections: [
      { namespace: 'shop', name: 'lan' },
      { namespace: 'infra', name: 'sto', interface: 'st0' },
      { namespace: 'shop', name: 'x', interface: 'net5' },
    ],
  });
  assert.deepEqual(parseNetworksAnnotation('', 'shop'), { ok: true, selections: [] });
});

test('networks: the JSON form with ips and mac', () => {
  const r = parseNetworksAnnotation('[{"name":"lan","interface":"lan0","ips":["10.1.0.5/24"],"mac":"02:00:00:00:00:05"},{"name":"b","namespace":"infra"}]', 'shop');
  assert.deepEqual(r, {
    ok: true,
    selections: [
      { namespace: 'shop', name: 'lan', interface: 'lan0', ips: ['10.1.0.5/24'], mac: '02:00:00:00:00:05' },
      { namespace: 'infra', name: 'b' },
    ],
  });
});

test('networks: malformed values say what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['a/b/c', /not \[namespace\/\]name/],
    ['a,,b', /not \[namespace\/\]name/],
    ['Bad_Name', /not a valid object name/],
    ['a@this-name-is-too-long', /not an interface name/],
    ['[{"name":"a"', /not a JSON list/],
    ['[{"interface":"x"}]', /name is required/],
    ['["a"]', /must be an object/],
    ['[{"name":"a","ips":"10.0.0.1"}]', /ips must be a list/],
    ['[{"name":"a","ips":["10.0.0.300/24"]}]', /not an IP address/],
    ['[{"name":"a","mac":"zz"}]', /not a MAC address/],
  ];
  for (const [text, re] of cases) {
    const r = parseNetworksAnnotation(text, 'shop');
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.message, re, text);
  }
});

test('default network: [ns/]name, or a one-entry JSON list', () => {
  assert.deepEqual(parseDefaultNetworkAnnotation('lan', 'shop'), { ok: true, selection: { namespace: 'shop', name: 'lan' } });
  assert.deepEqual(parseDefaultNetworkAnnotation('infra/lan', 'shop'), { ok: true, selection: { namespace: 'infra', name: 'lan' } });
  const j = parseDefaultNetworkAnnotation('[{"name":"lan","namespace":"infra"}]', 'shop');
  assert.ok(j.ok);
  assert.equal(j.selection.name, 'lan');
  assert.equal(parseDefaultNetworkAnnotation('lan@eth1', 'shop').ok, false);
  assert.equal(parseDefaultNetworkAnnotation('[{"name":"a"},{"name":"b"}]', 'shop').ok, false);
});

test('referencedNetworks lists both annotations and skips malformed ones', () => {
  assert.deepEqual(referencedNetworks({ 'v1.multus-cni.io/default-network': 'infra/lan', 'k8s.v1.cni.cncf.io/networks': 'a,b@x' }, 'shop'), [
    { namespace: 'infra', name: 'lan' },
    { namespace: 'shop', name: 'a' },
    { namespace: 'shop', name: 'b' },
  ]);
  assert.deepEqual(referencedNetworks({ 'k8s.v1.cni.cncf.io/networks': '[broken' }, 'shop'), []);
  assert.deepEqual(referencedNetworks(undefined, 'shop'), []);
});

test('network-status renders the Multus JSON shape', () => {
  const text = renderNetworkStatus([
    { name: 'hedge', interface: 'eth0', ips: ['10.244.1.5'], mac: '0a:58:0a:f4:01:05', default: true, dns: {} },
    { name: 'shop/lan', interface: 'net1', ips: ['192.168.1.200'], mac: '02:11:22:33:44:55', dns: {} },
  ]);
  assert.deepEqual(JSON.parse(text), [
    { name: 'hedge', interface: 'eth0', ips: ['10.244.1.5'], mac: '0a:58:0a:f4:01:05', default: true, dns: {} },
    { name: 'shop/lan', interface: 'net1', ips: ['192.168.1.200'], mac: '02:11:22:33:44:55', dns: {} },
  ]);
  assert.match(text, /^\[\n {4}\{\n {8}"name": "hedge"/);
});
