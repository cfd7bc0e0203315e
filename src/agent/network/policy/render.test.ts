import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { NetworkPolicy } from 'kubernetes-types/networking/v1.js';
import { policyScript, renderPolicyTable, type PolicyPod } from './render.ts';

const pod = (namespace: string, name: string, labels: Record<string, string>, ip: string, namedPorts: PolicyPod['namedPorts'] = {}): PolicyPod => ({ namespace, name, labels, ips: [ip], namedPorts });
const policy = (namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({ metadata: { namespace, name }, spec });

const pods = [
  pod('shop', 'web', { app: 'web' }, '10.244.0.10', { http: [{ protocol: 'TCP', port: 8080 }] }),
  pod('shop', 'db', { app: 'db' }, '10.244.0.11', { pg: [{ protocol: 'TCP', port: 5432 }] }),
  pod('shop', 'free', { app: 'free' }, '10.244.0.12'),
  pod('ops', 'prom', { app: 'prom' }, '10.244.1.20'),
];
const namespaces = { shop: { team: 'shop' }, ops: { team: 'ops', 'kubernetes.io/metadata.name': 'ops' } };

const policies = [
  // db: ingress only from web on its named port, and from ops namespaces on 9100-9200
  policy('shop', 'db-in', {
    podSelector: { matchLabels: { app: 'db' } },
    ingress: [
      { from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'pg' }] },
      { from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['ops'] }] } }], ports: [{ protocol: 'TCP', port: 9100, endPort: 9200 }] },
    ],
  }),
  // web: egress to db's named port and DNS anywhere but 10.0.0.0/8 except the node's range
  policy('shop', 'web-out', {
    podSelector: { matchLabels: { app: 'web' } },
    policyTypes: ['Egress'],
    egress: [
      { to: [{ podSelector: { matchLabels: { app: 'db' } } }], ports: [{ port: 'pg' }] },
      { to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.244.0.0/24', '10.245.0.0/16'] } }], ports: [{ protocol: 'UDP', port: 53 }] },
    ],
  }),
  // a default deny of ingress for everything in ops
  policy('ops', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }),
];

const GOLDEN = `table inet hedge-policy {
	chain forward {
		type filter hook forward priority filter - 5; policy accept;
		ct state established,related accept
		ip saddr 10.244.0.10 jump egr-shop-web
		ip daddr 10.244.1.20 jump ing-ops-prom
		ip daddr 10.244.0.11 jump ing-shop-db
	}
	chain ing-ops-prom {
		drop
	}
	chain ing-shop-db {
		ip saddr 10.244.0.10 tcp dport 5432 return
		ip saddr 10.244.1.20 tcp dport 9100-9200 return
		drop
	}
	chain egr-shop-web {
		ip daddr 10.244.0.11 tcp dport 5432 return
		ip daddr 10.0.0.0/8 ip daddr != { 10.244.0.0/24, 10.245.0.0/16 } udp dport 53 return
		drop
	}
}
`;

describe('NetworkPolicy → nftables', () => {
  it('renders the golden table', () => {
    assert.equal(renderPolicyTable({ policies, pods, namespaces }), GOLDEN);
  });

  it('no policy selects a pod: no chain for it, traffic passes', () => {
    const t = renderPolicyTable({ policies: [], pods, namespaces });
    assert.doesNotMatch(t, /jump/);
  });

  it('an ingress rule without from or ports allows everything to the selected pods', () => {
    const t = renderPolicyTable({ policies: [policy('shop', 'open', { podSelector: { matchLabels: { app: 'free' } }, ingress: [{}] })], pods, namespaces });
    assert.match(t, /chain ing-shop-free {\n\t\treturn\n\t\tdrop\n\t}/);
  });

  it('a peer that matches no pod allows nothing; a named port the pod lacks allows nothing', () => {
    const t = renderPolicyTable({
      policies: [policy('shop', 'p', { podSelector: { matchLabels: { app: 'free' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'ghost' } } }] }, { ports: [{ port: 'http' }] }] })],
      pods,
      namespaces,
    });
    assert.match(t, /chain ing-shop-free {\n\t\tdrop\n\t}/);
  });

  it('only local pods get chains', () => {
    const t = renderPolicyTable({ policies, pods, namespaces, localPods: (p) => p.namespace === 'shop' });
    assert.doesNotMatch(t, /ing-ops-prom/);
    assert.match(t, /ing-shop-db/);
  });

  const nft = '/usr/sbin/nft';
  it('nft accepts the script (check mode: nothing is loaded)', { skip: process.getuid?.() !== 0 || !existsSync(nft) ? 'needs root and nft' : undefined }, () => {
    const r = spawnSync(nft, ['-c', '-f', '-'], { input: policyScript(renderPolicyTable({ policies, pods, namespaces })) });
    assert.equal(r.status, 0, r.stderr.toString());
  });
});

describe('dual-stack pods', () => {
  it('an isolated pod\'s IPv6 address is dropped in the isolated direction (fail closed); non-isolated pods\' IPv6 is untouched', () => {
    const dual = pods.map((p) => (p.name === 'db' ? { ...p, ips6: ['fd00:10:244::11'] } : p.name === 'free' ? { ...p, ips6: ['fd00:10:244::12'] } : p));
    const out = renderPolicyTable({ policies, pods: dual, namespaces });
    assert.match(out, /\t\tip6 daddr fd00:10:244::11 drop\n/);
    assert.doesNotMatch(out, /ip6 saddr fd00:10:244::11/, 'db is not egress-isolated');
    assert.doesNotMatch(out, /fd00:10:244::12/, 'free is not isolated');
    // the drop comes after established/related replies are accepted
    assert.ok(out.indexOf('ct state established,related accept') < out.indexOf('ip6 daddr'));
  });
});
