import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from 'kubernetes-types/core/v1.js';
import { serviceEnv } from './service-env.ts';

const svc = (namespace: string, name: string, clusterIP: string, ports: NonNullable<Service['spec']>['ports']): Service => ({
  metadata: { namespace, name },
  spec: { clusterIP, ports },
});

test('the kubelet\'s service variables: host, ports, named ports and Docker links; kubernetes from default always, the rest only with service links', () => {
  const services = [
    svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]),
    svc('web', 'my-db', '10.96.3.4', [{ port: 5432 }, { name: 'metrics-port', port: 9187, protocol: 'TCP' }]),
    svc('web', 'headless', 'None', [{ port: 80 }]),
    svc('other', 'elsewhere', '10.96.9.9', [{ port: 80 }]),
    svc('web', 'dns', 'fd00::a', [{ name: 'dns', port: 53, protocol: 'UDP' }]),
  ];
  const env = serviceEnv(services, 'web', true);
  const want = {
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
    MY_DB_SERVICE_HOST: '10.96.3.4',
    MY_DB_SERVICE_PORT: '5432',
    MY_DB_SERVICE_PORT_METRICS_PORT: '9187',
    MY_DB_PORT: 'tcp://10.96.3.4:5432',
    MY_DB_PORT_9187_TCP_ADDR: '10.96.3.4',
    // IPv6 in brackets, the protocol in lower case
    DNS_PORT_53_UDP: 'udp://[fd00::a]:53',
    DNS_PORT_53_UDP_PROTO: 'udp',
  };
  assert.deepEqual(Object.fromEntries(Object.keys(want).map((k) => [k, env.get(k)])), want);
  assert.equal(env.has('HEADLESS_SERVICE_HOST'), false, 'no cluster IP, no variables');
  assert.equal(env.has('ELSEWHERE_SERVICE_HOST'), false, 'another namespace');
  // enableServiceLinks: false keeps only the apiserver's
  const off = serviceEnv(services, 'web', false);
  assert.deepEqual([...off.keys()].filter((k) => !k.startsWith('KUBERNETES_')), []);
  assert.equal(off.get('KUBERNETES_SERVICE_HOST'), '10.96.0.1');
  // a `kubernetes` service of the pod's own namespace wins over the apiserver's
  const own = serviceEnv([...services, svc('web', 'kubernetes', '10.96.7.7', [{ port: 8080 }])], 'web', true);
  assert.equal(own.get('KUBERNETES_SERVICE_HOST'), '10.96.7.7');
});
