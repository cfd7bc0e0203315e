import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { hostsFile, missingClusterDNS, parseResolvConf, podDNSType, resolvConf, type PodDNSType } from './dns.ts';

const host = parseResolvConf('# host\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0 timeout:2\n');
const cluster = { dns: ['10.244.0.1'], domain: 'cluster.local' };
const pod = (spec: Partial<NonNullable<Pod['spec']>>, ns = 'shop'): Pod => ({ metadata: { name: 'p', namespace: ns }, spec: { containers: [], ...spec } });

describe('pod resolv.conf', () => {
  it('ClusterFirst (the default): the node DNS, the cluster search path, ndots:5', () => {
    assert.equal(
      resolvConf(pod({}), host, cluster),
      'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.244.0.1\noptions ndots:5\n',
    );
  });

  it('Default: the host\'s resolvers, without loopback ones the pod cannot reach', () => {
    assert.equal(resolvConf(pod({ dnsPolicy: 'Default' }), host, cluster), 'search corp.example\nnameserver 192.0.2.53\noptions edns0 timeout:2\n');
  });

  it('ClusterFirst on the host network is Default; ClusterFirstWithHostNet is ClusterFirst', () => {
    assert.match(resolvConf(pod({ dnsPolicy: 'ClusterFirst', hostNetwork: true }), host, cluster), /nameserver 192\.0\.2\.53/);
    assert.match(resolvConf(pod({ dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }), host, cluster), /nameserver 10\.244\.0\.1/);
    assert.match(resolvConf(pod({ dnsPolicy: 'ClusterFirstWithHostNet' }), host, cluster), /nameserver 10\.244\.0\.1/);
  });

  it('the policy matrix of upstream\'s getPodDNSType, on and off the host network', () => {
    const clusterConf = 'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.244.0.1\noptions ndots:5\n';
    // a hostNetwork pod shares the host's netns: the host's resolvers as they are, loopback ones too
    const hostConfOnHost = 'search corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions edns0 timeout:2\n';
    const hostConfInPod = 'search corp.example\nnameserver 192.0.2.53\noptions edns0 timeout:2\n';
    const none: Partial<NonNullable<Pod['spec']>> = { dnsPolicy: 'None', dnsConfig: { nameservers: ['198.51.100.1'] } };
    const cases: [Partial<NonNullable<Pod['spec']>>, PodDNSType, string][] = [
      [{}, 'cluster', clusterConf],
      [{ dnsPolicy: 'ClusterFirst' }, 'cluster', clusterConf],
      [{ dnsPolicy: 'ClusterFirst', hostNetwork: true }, 'host', hostConfOnHost],
      [{ dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }, 'cluster', clusterConf],
      [{ dnsPolicy: 'ClusterFirstWithHostNet' }, 'cluster', clusterConf],
      [{ dnsPolicy: 'Default' }, 'host', hostConfInPod],
      [{ dnsPolicy: 'Default', hostNetwork: true }, 'host', hostConfOnHost],
      [none, 'none', 'nameserver 198.51.100.1\n'],
      [{ ...none, hostNetwork: true }, 'none', 'nameserver 198.51.100.1\n'],
    ];
    for (const [spec, type, conf] of cases) {
      assert.equal(podDNSType(pod(spec)), type, JSON.stringify(spec));
      assert.equal(resolvConf(pod(spec), host, cluster), conf, JSON.stringify(spec));
      assert.equal(missingClusterDNS(pod(spec), cluster.dns), undefined);
    }
  });

  it('no cluster DNS on the node: the cluster policies warn MissingClusterDNS (upstream\'s words) and fall back to Default', () => {
    const p: Pod = { ...pod({ dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }), metadata: { name: 'p', namespace: 'shop', uid: 'u1' } };
    assert.equal(missingClusterDNS(p, []), 'pod: "p_shop(u1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.');
    assert.equal(resolvConf(p, host, { dns: [], domain: 'cluster.local' }), 'search corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions edns0 timeout:2\n');
    assert.equal(missingClusterDNS(pod({ dnsPolicy: 'ClusterFirst', hostNetwork: true }), []), undefined);
    assert.equal(missingClusterDNS(pod({ dnsPolicy: 'Default' }), []), undefined);
  });

  it('host search domains lose a trailing dot, as upstream normalises them', () => {
    assert.deepEqual(parseResolvConf('search corp.example. . lab.example\n').searches, ['corp.example', 'lab.example']);
  });

  it('None: only dnsConfig', () => {
    const text = resolvConf(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['198.51.100.1'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }, { name: 'rotate' }] } }), host, cluster);
    assert.equal(text, 'search a.example\nnameserver 198.51.100.1\noptions ndots:2 rotate\n');
  });

  it('dnsConfig adds to ClusterFirst and overrides its options', () => {
    const text = resolvConf(pod({ dnsConfig: { nameservers: ['198.51.100.1'], options: [{ name: 'ndots', value: '1' }] } }), host, cluster);
    assert.match(text, /nameserver 10\.244\.0\.1\nnameserver 198\.51\.100\.1\n/);
    assert.match(text, /options ndots:1\n/);
  });

  it('no cluster DNS on the node: ClusterFirst falls back to the host\'s', () => {
    assert.match(resolvConf(pod({}), host, { dns: [], domain: 'cluster.local' }), /^search corp\.example\nnameserver 192\.0\.2\.53\n/);
  });
});

describe('pod hosts file', () => {
  it('names the pod under its subdomain in the cluster domain', () => {
    const text = hostsFile(pod({ hostname: 'web-0', subdomain: 'web' }), '10.244.0.9', 'edge.local');
    assert.match(text, /10\.244\.0\.9\tweb-0\.web\.shop\.svc\.edge\.local\tweb-0\n/);
  });
  it('hostAliases follow the pod\'s own lines as upstream writes them', () => {
    const text = hostsFile(pod({ hostAliases: [{ ip: '192.0.2.1', hostnames: ['a', 'b'] }, { ip: '192.0.2.2' }] }), '10.244.0.9');
    assert.ok(text.endsWith('10.244.0.9\tp\n\n# Entries added by HostAliases.\n192.0.2.1\ta\tb\n'), text);
  });
  it('a hostNetwork pod gets the host\'s file under upstream\'s header, then its hostAliases', () => {
    const host = '127.0.0.1\tlocalhost\n192.0.2.7\tedge-1\n';
    assert.equal(hostsFile(pod({ hostNetwork: true }), '192.0.2.7', 'cluster.local', host), `# Kubernetes-managed hosts file (host network).\n${host}`);
    assert.equal(
      hostsFile(pod({ hostNetwork: true, hostAliases: [{ ip: '192.0.2.1', hostnames: ['a'] }] }), '192.0.2.7', 'cluster.local', host),
      `# Kubernetes-managed hosts file (host network).\n${host}\n# Entries added by HostAliases.\n192.0.2.1\ta\n`,
    );
  });
});
