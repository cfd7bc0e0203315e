import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeKubeProtobuf } from './decode.ts';

/** Hand-assembled wire bytes, so the test does not depend on a protobuf encoder. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const field = (num: number, bytes: number[]): number[] => [...varint((num << 3) | 2), ...varint(bytes.length), ...bytes];
const str = (num: number, s: string): number[] => field(num, [...Buffer.from(s)]);
const envelope = (apiVersion: string, kind: string, raw: number[]): Buffer =>
  Buffer.from([0x6b, 0x38, 0x73, 0x00, ...field(1, [...str(1, apiVersion), ...str(2, kind)]), ...field(2, raw)]);

describe('kubernetes protobuf bodies', () => {
  it('decodes a ConfigMap with metadata, labels and data', () => {
    const meta = [...str(1, 'cfg'), ...str(3, 'ns1'), ...field(11, [...str(1, 'app'), ...str(2, 'web')]), ...str(2, '')];
    const raw = [...field(1, meta), ...field(2, [...str(1, 'k'), ...str(2, 'v')]), ...field(2, [...str(1, 'empty'), ...str(2, '')])];
    const obj = decodeKubeProtobuf(envelope('v1', 'ConfigMap', raw));
    assert.deepEqual(obj, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'ns1', labels: { app: 'web' } },
      data: { k: 'v', empty: '' },
    });
  });

  it('encodes Secret bytes as base64 like JSON does', () => {
    const raw = [...field(1, str(1, 's')), ...field(2, [...str(1, 'pw'), ...field(2, [0xff, 0x00])]), ...str(3, 'Opaque')];
    const obj = decodeKubeProtobuf(envelope('v1', 'Secret', raw));
    assert.deepEqual(obj.data, { pw: Buffer.from([0xff, 0x00]).toString('base64') });
    assert.equal(obj.type, 'Opaque');
  });

  it('decodes an Ingress as kubectl create ingress sends it: the inline IngressRuleValue, a zero port number left out', () => {
    const varintField = (num: number, n: number): number[] => [...varint(num << 3), ...varint(n)];
    const backend = field(4, [...str(1, 'svc'), ...field(2, [...str(1, 'http'), ...varintField(2, 0)])]);
    const path = [...str(1, '/'), ...field(2, backend), ...str(3, 'Exact')];
    const rule = [...str(1, 'foo.example.com'), ...field(2, field(1, field(1, path)))];
    const spec = [...field(3, rule), ...str(4, 'x'), ...field(2, [...str(1, 'foo.example.com'), ...str(2, 'tls')])];
    const obj = decodeKubeProtobuf(envelope('networking.k8s.io/v1', 'Ingress', [...field(1, str(1, 'web')), ...field(2, spec), ...field(3, field(1, []))]));
    assert.deepEqual(obj.spec, {
      rules: [{ host: 'foo.example.com', http: { paths: [{ path: '/', pathType: 'Exact', backend: { service: { name: 'svc', port: { name: 'http' } } } }] } }],
      ingressClassName: 'x',
      tls: [{ hosts: ['foo.example.com'], secretName: 'tls' }],
    });
    assert.deepEqual(obj.status, { loadBalancer: {} });
  });

  it('refuses kinds it has no schema for, and malformed input', () => {
    assert.throws(() => decodeKubeProtobuf(envelope('v1', 'Pod', [])), { code: 'UnsupportedMediaType' });
    assert.throws(() => decodeKubeProtobuf(Buffer.from('{"json":true}')), { code: 'BadRequest' });
    const truncated = envelope('v1', 'ConfigMap', field(1, str(1, 'x'))).subarray(0, 20);
    assert.throws(() => decodeKubeProtobuf(truncated), { code: 'BadRequest' });
  });
});
