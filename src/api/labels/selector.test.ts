import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError } from '../../lib/errors.ts';
import {
  matches,
  parseSelector,
  selectorFromLabelSelector,
  selectorFromSet,
  selectorToString,
  isEverything,
  newRequirement,
} from './selector.ts';

function badRequest(input: string): string {
  try {
    parseSelector(input);
  } catch (err) {
    assert.ok(isHedgeError(err, 'BadRequest'), `expected BadRequest for ${JSON.stringify(input)}`);
    return err.message;
  }
  assert.fail(`expected ${JSON.stringify(input)} to be rejected`);
}

test('parses every operator and sorts by key', () => {
  const sel = parseSelector('a=b,c!=d,e in (y,x),f notin (z),g,!h,i==j,k>3,l<10');
  assert.deepEqual(
    sel.requirements.map((r) => [r.key, r.operator, r.values]),
    [
      ['a', '=', ['b']],
      ['c', '!=', ['d']],
      ['e', 'in', ['x', 'y']],
      ['f', 'notin', ['z']],
      ['g', 'exists', []],
      ['h', '!', []],
      ['i', '==', ['j']],
      ['k', 'gt', ['3']],
      ['l', 'lt', ['10']],
    ],
  );
  assert.equal(selectorToString(sel), 'a=b,c!=d,e in (x,y),f notin (z),g,!h,i==j,k>3,l<10');
});

test('whitespace and empty selector', () => {
  assert.ok(isEverything(parseSelector('')));
  assert.ok(isEverything(parseSelector('   ')));
  const sel = parseSelector('  a = b ,  c  in ( x , y ) ');
  assert.equal(selectorToString(sel), 'a=b,c in (x,y)');
});

test('empty values and keywords used as values', () => {
  assert.deepEqual(parseSelector('a=').requirements[0].values, ['']);
  assert.deepEqual(parseSelector('a in ()').requirements[0].values, ['']);
  assert.deepEqual(parseSelector('a in (x,,y)').requirements[0].values, ['', 'x', 'y']);
  assert.deepEqual(parseSelector('a in (in,notin)').requirements[0].values, ['in', 'notin']);
  assert.deepEqual(parseSelector('x in (foo,,baz),y,z notin ()').requirements.length, 3);
  assert.deepEqual(parseSelector('example.com/app=web').requirements[0].key, 'example.com/app');
});

test('matching', () => {
  const l = { app: 'web', tier: 'front', n: '5' };
  const m = (s: string, labels: Record<string, string> | undefined = l): boolean => matches(parseSelector(s), labels);
  assert.ok(m('app=web'));
  assert.ok(m('app==web'));
  assert.ok(!m('app=db'));
  assert.ok(m('app!=db'));
  assert.ok(m('missing!=x'), '!= matches when the key is absent');
  assert.ok(m('app in (db,web)'));
  assert.ok(!m('app notin (db,web)'));
  assert.ok(m('missing notin (x)'));
  assert.ok(!m('missing in (x)'));
  assert.ok(m('app'));
  assert.ok(!m('missing'));
  assert.ok(m('!missing'));
  assert.ok(!m('!app'));
  assert.ok(m('n>4'));
  assert.ok(!m('n>5'));
  assert.ok(m('n<6'));
  assert.ok(!m('app>1'), 'non-integer label never matches gt');
  assert.ok(m('app=web,tier=front'));
  assert.ok(!m('app=web,tier=back'));
  assert.ok(m(''), 'empty selector matches everything');
  assert.ok(matches(parseSelector(''), undefined));
  assert.ok(!matches(parseSelector('app'), undefined));
  assert.ok(matches(parseSelector('!app'), undefined));
  assert.ok(m('a=', { a: '' }));
});

test('bad inputs give upstream messages', () => {
  assert.equal(badRequest('a=b c'), "found 'c', expected: ',' or 'end of string'");
  assert.equal(badRequest(',a'), "found ',', expected: !, identifier, or 'end of string'");
  assert.equal(badRequest('a,'), "found '', expected: identifier after ','");
  assert.equal(badRequest('a in x'), "unable to parse requirement: found 'x' expected: '('");
  assert.equal(badRequest('a in (x'), "unable to parse requirement: found '', expected: ',' or ')'");
  assert.equal(badRequest('a foo b'), 'unable to parse requirement: found \'foo\', expected: in, notin, =, ==, !=, gt, lt');
  assert.equal(badRequest('!'), "unable to parse requirement: found '', expected: identifier");
  assert.match(badRequest('a>b'), /for 'Gt', 'Lt' operators, the value must be an integer/);
  assert.match(badRequest('a=<b'), /unable to parse requirement: found '<', expected: identifier/);
  assert.match(badRequest('a=b=c'), /found '=', expected: ',' or 'end of string'/);
  assert.equal(badRequest('a=>=b'), "unable to parse requirement: found '>', expected: identifier");
});

test('invalid keys and values', () => {
  const msg = badRequest('-a=b');
  assert.match(msg, /^unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of alphanumeric characters/);
  assert.match(badRequest('a/b/c=d'), /a qualified name must consist of/);
  assert.match(badRequest(`${'k'.repeat(64)}=v`), /name part must be no more than 63 characters/);
  const vmsg = badRequest(`a=${'v'.repeat(64)}`);
  assert.match(vmsg, /^unable to parse requirement: values\[0\]\[a\]: Invalid value: "v+": must be no more than 63 characters/);
  assert.match(badRequest('a=b$'), /a valid label must be an empty string or consist of alphanumeric characters/);
  assert.match(badRequest('Bad_Prefix/a=b'), /prefix part a lowercase RFC 1123 subdomain/);
});

test('LabelSelector conversion', () => {
  assert.ok(!matches(selectorFromLabelSelector(undefined), {}), 'nil selects nothing');
  assert.ok(matches(selectorFromLabelSelector({}), { any: 'thing' }), '{} selects everything');
  const sel = selectorFromLabelSelector({
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['front', 'edge'] },
      { key: 'env', operator: 'NotIn', values: ['prod'] },
      { key: 'owner', operator: 'Exists' },
      { key: 'legacy', operator: 'DoesNotExist' },
    ],
  });
  assert.equal(selectorToString(sel), 'app=web,env notin (prod),!legacy,owner,tier in (edge,front)');
  assert.ok(matches(sel, { app: 'web', tier: 'edge', owner: 'me' }));
  assert.ok(!matches(sel, { app: 'web', tier: 'edge', owner: 'me', legacy: '1' }));
  assert.ok(!matches(sel, { app: 'web', tier: 'edge', owner: 'me', env: 'prod' }));
  assert.throws(
    () => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }),
    (e) => isHedgeError(e, 'BadRequest') && e.message === '"Gt" is not a valid label selector operator',
  );
  assert.throws(
    () => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
    /values set can't be empty/,
  );
  assert.throws(() => selectorFromLabelSelector({ matchLabels: { 'a b': 'c' } }), /key: Invalid value: "a b"/);
});

test('set selectors and newRequirement', () => {
  assert.ok(matches(selectorFromSet(undefined), { a: 'b' }));
  assert.ok(matches(selectorFromSet({ a: 'b' }), { a: 'b', c: 'd' }));
  assert.ok(!matches(selectorFromSet({ a: 'b' }), { a: 'c' }));
  assert.deepEqual(newRequirement('a', 'in', ['z', 'y', 'z']).values, ['y', 'z']);
  assert.throws(() => newRequirement('a', '=', ['x', 'y']), /exact-match compatibility requires one single value/);
});
