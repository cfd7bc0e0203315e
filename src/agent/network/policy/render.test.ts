import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { NetworkPolicy } from 'kubernetes-types/networking/v1.js';
import { NDP_RULE, isolatedPodIps, policyScript, renderPolicyTable, type PolicyPod } from './render.ts';

const pod = (namespace: string, name: string, labels: Record<string, string>, ip: string, namedPorts: PolicyPod['namedPorts'] = {}): PolicyPod => ({ namespace, name, labels, ips: [ip], namedPorts });
const policy = (namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({ metadata: { namespace, name }, spec });

const pods = [
  pod('shop', 'web', { app: 'web' }, '10.244.0.10', { http: [{ protocol: 'TCP', port: 8080 }] }),
  pod('shop', 'db', { app: 'db' }, '10.244.0.11', { pg: [{ protocol: 'TCP', port: 5432 }] }),
  pod('shop', 'free', { app: 'free' }, '10.244.0.12'),
  pod('ops', 'prom', { app: 'prom' }, '10.244.1.20'),
];
const nft = '/usr/sbin/nft';
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
		icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 return
		drop
	}
	chain ing-shop-db {
		icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 return
		ip saddr 10.244.0.10 tcp dport 5432 return
		ip saddr 10.244.1.20 tcp dport 9100-9200 return
		drop
	}
	chain egr-shop-web {
		icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 return
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

  it('no pod isolated on this node: the table has no forward hook (it would see every bridged frame to accept it)', () => {
    assert.equal(renderPolicyTable({ policies: [], pods, namespaces }), 'table inet hedge-policy {\n}\n');
    assert.equal(renderPolicyTable({ policies, pods, namespaces, localPods: (p) => p.name === 'free' }), 'table inet hedge-policy {\n}\n', 'policies isolating other nodes\' pods only');
    const r = spawnSync(nft, ['-c', '-f', '-'], { input: policyScript(renderPolicyTable({ policies: [], pods, namespaces })) });
    assert.ok(r.error || r.status === 0, r.stderr?.toString());
  });

  it('an ingress rule without from or ports allows everything to the selected pods', () => {
    const t = renderPolicyTable({ policies: [policy('shop', 'open', { podSelector: { matchLabels: { app: 'free' } }, ingress: [{}] })], pods, namespaces });
    assert.ok(t.includes(`chain ing-shop-free {\n\t\t${NDP_RULE}\n\t\treturn\n\t\tdrop\n\t}`), t);
  });

  it('a peer that matches no pod allows nothing; a named port the pod lacks allows nothing', () => {
    const t = renderPolicyTable({
      policies: [policy('shop', 'p', { podSelector: { matchLabels: { app: 'free' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'ghost' } } }] }, { ports: [{ port: 'http' }] }] })],
      pods,
      namespaces,
    });
    assert.ok(t.includes(`chain ing-shop-free {\n\t\t${NDP_RULE}\n\t\tdrop\n\t}`), t);
  });

  it('only local pods get chains', () => {
    const t = renderPolicyTable({ policies, pods, namespaces, localPods: (p) => p.namespace === 'shop' });
    assert.doesNotMatch(t, /ing-ops-prom/);
    assert.match(t, /ing-shop-db/);
  });

  it('nft accepts the script (check mode: nothing is loaded)', { skip: process.getuid?.() !== 0 || !existsSync(nft) ? 'needs root and nft' : undefined }, () => {
    const r = spawnSync(nft, ['-c', '-f', '-'], { input: policyScript(renderPolicyTable({ policies, pods, namespaces })) });
    assert.equal(r.status, 0, r.stderr.toString());
  });
});

describe('dual-stack pods', () => {
  const v6: Record<string, string> = { web: 'fd00:10:244::10', db: 'fd00:10:244::11', free: 'fd00:10:244::12', prom: 'fd00:10:244:1::20' };
  const dual = pods.map((p) => ({ ...p, ips6: [v6[p.name]!] }));

  it('peers match by their IPv6 addresses beside their IPv4 ones; an isolated pod is dispatched from both', () => {
    const out = renderPolicyTable({ policies, pods: dual, namespaces });
    // dispatch: egress before ingress, each pod once per family
    const forward = out.slice(0, out.indexOf('\t}\n'));
    assert.deepEqual(forward.split('\n').filter((l) => l.includes('jump')).map((l) => l.trim()), [
      'ip saddr 10.244.0.10 jump egr-shop-web',
      'ip6 saddr fd00:10:244::10 jump egr-shop-web',
      'ip daddr 10.244.1.20 jump ing-ops-prom',
      'ip6 daddr fd00:10:244:1::20 jump ing-ops-prom',
      'ip daddr 10.244.0.11 jump ing-shop-db',
      'ip6 daddr fd00:10:244::11 jump ing-shop-db',
    ]);
    // ingress to db: from web (pod selector, named port) and the ops namespace, both families
    assert.match(out, /\t\tip saddr 10\.244\.0\.10 tcp dport 5432 return\n\t\tip6 saddr fd00:10:244::10 tcp dport 5432 return\n/);
    assert.match(out, /\t\tip6 saddr fd00:10:244:1::20 tcp dport 9100-9200 return\n/);
    // egress of web to db's named port, resolved per destination pod, both families
    assert.match(out, /\t\tip6 daddr fd00:10:244::11 tcp dport 5432 return\n/);
    // the IPv4 ipBlock stays IPv4: no IPv6 address is in 10.0.0.0/8
    assert.doesNotMatch(out, /ip6 daddr 10\./);
    assert.doesNotMatch(out, /drop\n\t\tip/, 'nothing after a drop in the dispatch');
    assert.doesNotMatch(out, /fd00:10:244::12/, 'free is neither isolated nor a peer');    // the pod guard keeps both families of isolated pods off its fast path
    assert.deepEqual(isolatedPodIps({ policies, pods: dual, namespaces }), ['10.244.0.10', '10.244.0.11', '10.244.1.20', 'fd00:10:244:1::20', 'fd00:10:244::10', 'fd00:10:244::11']);
  });

  it('an IPv6 ipBlock (with an IPv6 except) allows IPv6 only; an except of the other family is dropped', () => {
    const out = renderPolicyTable({
      policies: [
        policy('shop', 'v6-in', {
          podSelector: { matchLabels: { app: 'free' } },
          ingress: [{ from: [{ ipBlock: { cidr: 'fd00:10:244::/56', except: ['fd00:10:244:1::/64', '10.244.1.0/24'] } }], ports: [{ protocol: 'TCP', port: 80 }] }],
        }),
        policy('shop', 'v6-out', { podSelector: { matchLabels: { app: 'free' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '2001:db8::/32' } }] }] }),
      ],
      pods: dual,
      namespaces,
    });
    assert.ok(
      out.includes(`\tchain ing-shop-free {\n\t\t${NDP_RULE}\n\t\tip6 saddr fd00:10:244::/56 ip6 saddr != fd00:10:244:1::/64 tcp dport 80 return\n\t\tdrop\n\t}`),
      out,
    );
    assert.ok(out.includes(`\tchain egr-shop-free {\n\t\t${NDP_RULE}\n\t\tip6 daddr 2001:db8::/32 return\n\t\tdrop\n\t}`), out);
    assert.doesNotMatch(out, /ip (s|d)addr fd00|ip6 saddr != 10\./);
  });

  it('an IPv6-only pod (no IPv4 address yet) gets its chains too', () => {
    const only6 = [{ ...pod('shop', 'db', { app: 'db' }, '10.0.0.1'), ips: [], ips6: ['fd00:10:244::11'] }, ...dual.filter((p) => p.name !== 'db')];
    const out = renderPolicyTable({ policies, pods: only6, namespaces });
    assert.match(out, /\t\tip6 daddr fd00:10:244::11 jump ing-shop-db\n/);
    assert.doesNotMatch(out, /ip daddr 10\.0\.0\.1/);
  });

  it('nft accepts the dual-stack script', { skip: process.getuid?.() !== 0 || !existsSync(nft) ? 'needs root and nft' : undefined }, () => {
    const pol = [...policies, policy('shop', 'v6', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/8', except: ['fd00:10::/32'] } }] }] })];
    const r = spawnSync(nft, ['-c', '-f', '-'], { input: policyScript(renderPolicyTable({ policies: pol, pods: dual, namespaces })) });
    assert.equal(r.status, 0, r.stderr.toString());
  });
});
