import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentTypeOf, negotiateOutput } from './negotiate.ts';

describe('negotiateOutput', () => {
  it('defaults to JSON and honours wildcards', () => {
    assert.deepEqual(negotiateOutput(undefined, 'object'), { kind: 'json' });
    assert.deepEqual(negotiateOutput('*/*', 'list'), { kind: 'json' });
    assert.deepEqual(negotiateOutput('application/json, */*', 'object'), { kind: 'json' });
    assert.deepEqual(negotiateOutput('application/yaml', 'object'), { kind: 'yaml' });
  });

  it('picks the Table kubectl asks for, only where a Table makes sense', () => {
    const kubectl = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    assert.deepEqual(negotiateOutput(kubectl, 'list'), { kind: 'table', version: 'v1' });
    assert.deepEqual(negotiateOutput(kubectl, 'discovery'), { kind: 'json' });
    assert.equal(contentTypeOf({ kind: 'table', version: 'v1' }), 'application/json;as=Table;v=v1;g=meta.k8s.io');
  });

  it('serves aggregated discovery when asked and falls back otherwise', () => {
    const accept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
    assert.deepEqual(negotiateOutput(accept, 'discovery'), { kind: 'discovery', version: 'v2' });
    assert.deepEqual(negotiateOutput(accept, 'list'), { kind: 'json' });
  });

  it('skips protobuf when JSON is also acceptable, else 406', () => {
    assert.deepEqual(negotiateOutput('application/vnd.kubernetes.protobuf,application/json', 'object'), { kind: 'json' });
    assert.throws(() => negotiateOutput('application/vnd.kubernetes.protobuf', 'object'), { code: 'NotAcceptable' });
    assert.throws(() => negotiateOutput('application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'other'), { code: 'NotAcceptable' });
    assert.throws(() => negotiateOutput('application/json;q=0', 'object'), { code: 'NotAcceptable' });
  });

  it('orders by quality', () => {
    assert.deepEqual(negotiateOutput('application/json;q=0.5,application/yaml', 'object'), { kind: 'yaml' });
  });
});
