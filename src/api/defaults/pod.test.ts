import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';
import { defaultPod, imageTag, podQOSClass } from './pod.ts';

test('image tags', () => {
  assert.equal(imageTag('nginx'), 'latest');
  assert.equal(imageTag('nginx:1.25'), '1.25');
  assert.equal(imageTag('registry:5000/nginx'), 'latest');
  assert.equal(imageTag('registry:5000/nginx:latest'), 'latest');
  assert.equal(imageTag('nginx@sha256:abc'), '');
  assert.equal(imageTag('nginx:1@sha256:abc'), '1');
});

test('pod defaults match upstream', () => {
  const obj: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: {
      containers: [
        {
          name: 'a',
          image: 'nginx',
          ports: [{ containerPort: 80 }],
          resources: { limits: { cpu: '1', memory: '1Gi' } },
          livenessProbe: { httpGet: { port: 80 } },
          env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        },
        { name: 'b', image: 'busybox:1.36' },
      ],
      volumes: [{ name: 'cfg', configMap: { name: 'c' } }],
    },
  };
  defaultPod(obj);
  const pod = obj as unknown as Pod;
  const spec = pod.spec!;
  assert.equal(spec.restartPolicy, 'Always');
  assert.equal(spec.dnsPolicy, 'ClusterFirst');
  assert.equal(spec.terminationGracePeriodSeconds, 30);
  assert.equal(spec.schedulerName, 'default-scheduler');
  assert.deepEqual(spec.securityContext, {});
  assert.equal(spec.enableServiceLinks, true);
  assert.equal(spec.serviceAccountName, 'default');
  assert.equal(spec.serviceAccount, 'default');
  // the Priority admission plugin sets these (a default here would collide with a pod's class)
  assert.equal(spec.priority, undefined);
  assert.equal(spec.preemptionPolicy, undefined);
  const [a, b] = spec.containers;
  assert.equal(a.imagePullPolicy, 'Always');
  assert.equal(b.imagePullPolicy, 'IfNotPresent');
  assert.equal(a.terminationMessagePath, '/dev/termination-log');
  assert.equal(a.terminationMessagePolicy, 'File');
  assert.equal(a.ports![0].protocol, 'TCP');
  assert.equal(a.ports![0].hostPort, undefined);
  assert.deepEqual(a.resources!.requests, { cpu: '1', memory: '1Gi' });
  assert.deepEqual(a.livenessProbe, {
    httpGet: { port: 80, path: '/', scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
  assert.equal(a.env![0].valueFrom!.fieldRef!.apiVersion, 'v1');
  assert.equal(spec.volumes![0].configMap!.defaultMode, 420);
  assert.equal(pod.status!.phase, 'Pending');
  assert.equal(pod.status!.qosClass, 'Burstable');
});

test('defaults keep explicit values and are idempotent', () => {
  const obj: KubeObject = {
    metadata: { name: 'p' },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: 'robot',
      hostNetwork: true,
      containers: [{ name: 'a', image: 'x:latest', imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }] }],
    },
  };
  defaultPod(obj);
  const once = JSON.stringify(obj);
  defaultPod(obj);
  assert.equal(JSON.stringify(obj), once);
  const spec = (obj as unknown as Pod).spec!;
  assert.equal(spec.restartPolicy, 'Never');
  assert.equal(spec.serviceAccountName, 'robot');
  assert.equal(spec.containers[0].imagePullPolicy, 'Never');
  assert.equal(spec.containers[0].ports![0].hostPort, 8080, 'host network pods publish on the host port');
});

test('QoS classes', () => {
  assert.equal(podQOSClass({ containers: [{ name: 'a' }] }), 'BestEffort');
  assert.equal(
    podQOSClass({ containers: [{ name: 'a', resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1000m', memory: '1Gi' } } }] }),
    'Guaranteed',
  );
  assert.equal(podQOSClass({ containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }] }), 'Burstable');
});
