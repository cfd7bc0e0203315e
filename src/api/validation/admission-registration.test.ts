import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../object.ts';
import { validateValidatingWebhookConfiguration } from './admission-registration.ts';

const hook = (matchConditions: unknown) => ({
  name: 'a.hedge.test',
  clientConfig: { url: 'https://hook.example.com/x' },
  sideEffects: 'None',
  admissionReviewVersions: ['v1'],
  matchConditions,
});
const causesOf = (matchConditions: unknown): string[] =>
  validateValidatingWebhookConfiguration({ metadata: { name: 'c' }, webhooks: [hook(matchConditions)] } as unknown as KubeObject).map((c) => `${c.field}: ${c.message}`);

describe('webhook matchConditions validation (upstream validateMatchConditions)', () => {
  it('accepts bool expressions over object, oldObject and request', () => {
    assert.deepEqual(causesOf([{ name: 'a', expression: "object.metadata.name != 'x' && request.userInfo.username != ''" }, { name: 'example.com/b', expression: 'oldObject == null' }]), []);
  });

  it('names: required, qualified, unique; expressions: required, compile, bool', () => {
    const got = causesOf([
      { name: '', expression: 'true' },
      { name: 'bad name!', expression: 'true' },
      { name: 'dup', expression: 'true' },
      { name: 'dup', expression: '  ' },
      { name: 'c', expression: 'object.metadata.name ==' },
      { name: 'd', expression: "'not a bool'" },
      { name: 'e', expression: 'params.x == 1' },
    ]);
    const p = 'webhooks[0].matchConditions';
    assert.ok(got.includes(`${p}[0].name: Required value`), got.join('\n'));
    assert.ok(got.some((c) => c.startsWith(`${p}[1].name: Invalid value: "bad name!": name part must consist of`)), got.join('\n'));
    assert.ok(got.includes(`${p}[3].name: Duplicate value: "dup"`));
    assert.ok(got.includes(`${p}[3].expression: Required value`));
    assert.ok(got.some((c) => c.startsWith(`${p}[4].expression: Invalid value: "object.metadata.name ==": compilation failed: ERROR: <input>:1:`)), got.join('\n'));
    assert.ok(got.includes(`${p}[5].expression: Invalid value: "'not a bool'": must evaluate to bool`), got.join('\n'));
    assert.ok(got.some((c) => c.startsWith(`${p}[6].expression: Invalid value: "params.x == 1": compilation failed:`)), 'params is a policy variable only');
  });

  it('a constant regular expression must be RE2', () => {
    const got = causesOf([{ name: 'a', expression: String.raw`object.metadata.name.matches("(?=x)")` }]);
    assert.equal(got.length, 1, got.join('\n'));
    assert.match(got[0]!, /matchConditions\[0\]\.expression: Invalid value: .*: compilation failed: ERROR: <input>:1:30: error parsing regexp: invalid or unsupported Perl syntax: `\(\?=`/);
  });

  it('the authorizer variable is refused by name (hedge does not back it)', () => {
    const got = causesOf([{ name: 'a', expression: "authorizer.group('').resource('pods').check('get').allowed()" }]);
    assert.deepEqual(got.length, 1);
    assert.match(got[0]!, /expression: Invalid value: .*: compilation failed: the authorizer variable is not supported by this server/);
  });

  it('at most 64', () => {
    const many = Array.from({ length: 65 }, (_, i) => ({ name: `c${i}`, expression: 'true' }));
    assert.deepEqual(causesOf(many), ['webhooks[0].matchConditions: Too many: 65: must have at most 64 items']);
  });
});
