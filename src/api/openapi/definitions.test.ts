import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generate } from '../../../scripts/gen-openapi.ts';
import { definitionNameFor, loadDefinitions } from './definitions.ts';

const defs = loadDefinitions();
const CORE = 'io.k8s.api.core.v1';

describe('generated definitions', () => {
  it('are what the generator produces now (regenerate with scripts/gen-openapi.ts)', () => {
    const committed = readFileSync(new URL('./generated/definitions.json', import.meta.url), 'utf8');
    assert.equal(committed, `${JSON.stringify(generate(), null, 1)}\n`);
  });

  it('Pod refs its spec, status and metadata and carries its GVK', () => {
    const pod = defs[`${CORE}.Pod`];
    assert.equal(pod.properties?.spec.$ref, `#/definitions/${CORE}.PodSpec`);
    assert.equal(pod.properties?.status.$ref, `#/definitions/${CORE}.PodStatus`);
    assert.equal(pod.properties?.metadata.$ref, '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    assert.deepEqual(pod['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Pod', version: 'v1' }]);
    assert.match(pod.description ?? '', /^Pod is a collection of containers/);
  });

  it('PodSpec lists carry upstream patch metadata', () => {
    const spec = defs[`${CORE}.PodSpec`];
    const containers = spec.properties?.containers;
    assert.equal(containers?.type, 'array');
    assert.equal(containers?.items?.$ref, `#/definitions/${CORE}.Container`);
    assert.equal(containers?.['x-kubernetes-patch-merge-key'], 'name');
    assert.equal(containers?.['x-kubernetes-patch-strategy'], 'merge');
    assert.equal(spec.properties?.volumes['x-kubernetes-patch-strategy'], 'merge,retainKeys');
    assert.equal(spec.properties?.tolerations['x-kubernetes-patch-merge-key'], undefined);
    assert.deepEqual(spec.required, ['containers']);
    const ports = defs[`${CORE}.Container`].properties?.ports;
    assert.equal(ports?.['x-kubernetes-patch-merge-key'], 'containerPort');
    assert.deepEqual(ports?.['x-kubernetes-list-map-keys'], ['containerPort', 'protocol']);
    const meta = defs['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties;
    assert.equal(meta?.finalizers['x-kubernetes-patch-strategy'], 'merge');
    assert.equal(meta?.ownerReferences['x-kubernetes-patch-merge-key'], 'uid');
    assert.equal(defs['io.k8s.api.apps.v1.DeploymentStatus'].properties?.conditions['x-kubernetes-patch-merge-key'], 'type');
  });

  it('special scalar types follow upstream', () => {
    const ios = defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'];
    assert.equal(ios.type, 'string');
    assert.equal(ios.format, 'int-or-string');
    assert.equal(ios['x-kubernetes-int-or-string'], true);
    const quantity = defs['io.k8s.apimachinery.pkg.api.resource.Quantity'];
    assert.equal(quantity.type, 'string');
    assert.equal(quantity['x-kubernetes-int-or-string'], true);
    assert.deepEqual(
      { type: defs['io.k8s.apimachinery.pkg.apis.meta.v1.Time'].type, format: defs['io.k8s.apimachinery.pkg.apis.meta.v1.Time'].format },
      { type: 'string', format: 'date-time' },
    );
    assert.equal(defs['io.k8s.apimachinery.pkg.runtime.RawExtension'].type, 'object');
    assert.equal(defs[`${CORE}.ServicePort`].properties?.targetPort.$ref, '#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString');
    assert.deepEqual(defs[`${CORE}.ResourceRequirements`].properties?.limits.additionalProperties, {
      $ref: '#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity',
    });
    assert.equal(defs[`${CORE}.PodSpec`].properties?.terminationGracePeriodSeconds.format, 'int64');
    assert.equal(defs[`${CORE}.ContainerPort`].properties?.containerPort.format, 'int32');
    assert.deepEqual(defs[`${CORE}.Secret`].properties?.data.additionalProperties, { type: 'string', format: 'byte' });
  });

  it('covers the groups hedge serves', () => {
    for (const name of [
      'io.k8s.api.coordination.v1.Lease',
      'io.k8s.api.node.v1.RuntimeClass',
      'io.k8s.api.apps.v1.Deployment',
      'io.k8s.api.batch.v1.Job',
      'io.k8s.api.rbac.v1.ClusterRole',
      'io.k8s.api.policy.v1.PodDisruptionBudget',
      'io.k8s.api.networking.v1.NetworkPolicy',
      'io.k8s.api.discovery.v1.EndpointSlice',
      'io.k8s.api.storage.v1.StorageClass',
      'io.k8s.apimachinery.pkg.version.Info',
    ]) {
      assert.ok(defs[name], name);
    }
  });

  it('definitionNameFor maps apiVersion+kind via x-kubernetes-group-version-kind', () => {
    assert.equal(definitionNameFor('v1', 'Pod'), `${CORE}.Pod`);
    assert.equal(definitionNameFor('apps/v1', 'Deployment'), 'io.k8s.api.apps.v1.Deployment');
    assert.equal(definitionNameFor('coordination.k8s.io/v1', 'Lease'), 'io.k8s.api.coordination.v1.Lease');
    assert.equal(definitionNameFor('v1', 'PodList'), `${CORE}.PodList`);
    assert.equal(definitionNameFor('apps/v1', 'Pod'), undefined);
  });
});
