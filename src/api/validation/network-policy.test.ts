import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { builtinResources } from '../builtin/builtin-resources.ts';
import { ResourceRegistry } from '../resources/registry.ts';

const reg = new ResourceRegistry(builtinResources());
const netpol = reg.lookup('networking.k8s.io', 'v1', 'networkpolicies');

const np = (spec: unknown): KubeObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z' }, spec });
const check = (spec: unknown): string[] => {
  const o = np(spec);
  netpol?.defaults?.(o);
  return (netpol?.validate?.(o) ?? []).map((c) => `${c.field}: ${c.reason}`);
};

test('NetworkPolicy is served as networking.k8s.io/v1 networkpolicies, short name netpol', () => {
  assert.ok(netpol);
  assert.equal(netpol.kind, 'NetworkPolicy');
  assert.equal(netpol.namespaced, true);
  assert.deepEqual(netpol.shortNames, ['netpol']);
});

test('defaults: protocol TCP, policyTypes from the rules present', () => {
  const o = np({ podSelector: {}, ingress: [{ ports: [{ port: 80 }] }], egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] });
  netpol?.defaults?.(o);
  const spec = o.spec as { policyTypes: string[]; ingress: { ports: { protocol: string }[] }[] };
  assert.deepEqual(spec.policyTypes, ['Ingress', 'Egress']);
  assert.equal(spec.ingress[0]?.ports[0]?.protocol, 'TCP');
  const ingressOnly = np({ podSelector: {} });
  netpol?.defaults?.(ingressOnly);
  assert.deepEqual((ingressOnly.spec as { policyTypes: string[] }).policyTypes, ['Ingress']);
});

test('valid policies pass: selectors, named ports, endPort, ipBlock with except', () => {
  assert.deepEqual(
    check({
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [
        { from: [{ podSelector: { matchLabels: { role: 'client' } }, namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] } }], ports: [{ port: 'pg' }, { port: 9100, endPort: 9200 }] },
      ],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }, { ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] } }, { ipBlock: { cidr: '::ffff:10.0.0.0/104', except: ['::ffff:10.1.0.0/112'] } }] }],
    }),
    [],
  );
});

test('bad selectors, ports, peers and CIDRs are field errors', () => {
  assert.deepEqual(check({}), ['spec.podSelector: FieldValueRequired']);
  assert.deepEqual(check({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }).map((s) => s.split(':')[0]), ['spec.podSelector.matchExpressions[0].values']);
  assert.deepEqual(
    check({
      podSelector: {},
      ingress: [
        {
          ports: [{ port: 0 }, { port: 'Not_A_Name' }, { port: 100, endPort: 50 }, { port: 'http', endPort: 90 }, { protocol: 'ICMP', port: 1 }],
          from: [{}, { podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }, { ipBlock: { cidr: '10.0.0.0/33' } }, { ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24', '10.0.0.0/8', 'x'] } }, { ipBlock: { cidr: '::ffff:10.0.0.0/104', except: ['::ffff:11.0.0.0/112'] } }],
        },
      ],
      policyTypes: ['Ingress', 'Ingress', 'Sideways'],
    }),
    [
      'spec.ingress[0].ports[0].port: FieldValueInvalid',
      'spec.ingress[0].ports[1].port: FieldValueInvalid',
      'spec.ingress[0].ports[2].endPort: FieldValueInvalid',
      'spec.ingress[0].ports[3].endPort: FieldValueInvalid',
      'spec.ingress[0].ports[4].protocol: FieldValueNotSupported',
      'spec.ingress[0].from[0]: FieldValueRequired',
      'spec.ingress[0].from[1]: FieldValueForbidden',
      'spec.ingress[0].from[2].ipBlock.cidr: FieldValueInvalid',
      'spec.ingress[0].from[3].ipBlock.except[0]: FieldValueInvalid',
      'spec.ingress[0].from[3].ipBlock.except[1]: FieldValueInvalid',
      'spec.ingress[0].from[3].ipBlock.except[2]: FieldValueInvalid',
      'spec.ingress[0].from[4].ipBlock.except[0]: FieldValueInvalid',
      'spec.policyTypes: FieldValueTooMany',
      'spec.policyTypes[1]: FieldValueDuplicate',
      'spec.policyTypes[2]: FieldValueNotSupported',
    ],
  );
});

test('the table: NAME POD-SELECTOR AGE', () => {
  assert.ok(netpol?.table);
  assert.deepEqual(netpol.table.columns.map((c) => c.name), ['Name', 'Pod-Selector', 'Age']);
  assert.deepEqual(netpol.table.row(np({ podSelector: { matchLabels: { app: 'db' } } }), new Date('2026-01-01T00:05:00Z')), ['p', 'app=db', '5m']);
  assert.deepEqual(netpol.table.row(np({ podSelector: {} }), new Date('2026-01-01T00:00:30Z'))[1], '<none>');
});
