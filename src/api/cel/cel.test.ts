import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CelBudget, CelEnvironment, CelEvalError } from './index.ts';

const env = new CelEnvironment();
const budget = (): CelBudget => new CelBudget({ limit: 1_000_000, timeoutMs: 5_000 });

function run(source: string, self: unknown = {}): unknown {
  const c = env.compile(source, { self: 'dyn' });
  if (!c.ok) throw new Error(c.message);
  return c.program.evaluate({ self }, budget());
}

describe('CEL environment', () => {
  it('has the standard macros', () => {
    const self = { l: [1n, 2n, 3n], m: { a: 1n } };
    assert.equal(run('has(self.l) && !has(self.x)', self), true);
    assert.equal(run('self.l.all(x, x > 0) && self.l.exists(x, x == 2) && self.l.exists_one(x, x == 3)', self), true);
    assert.deepEqual(run('self.l.filter(x, x > 1).map(x, x * 2)', self), [4n, 6n]);
    assert.equal(run('self.m.all(k, k == "a")', self), true);
    assert.equal(run('cel.bind(n, size(self.l), n == 3)', self), true);
    assert.equal(run('self.?x.orValue(7) == 7', self), true);
  });

  it('lists library', () => {
    assert.equal(run('[1, 2, 2, 3].isSorted() && !["b", "a"].isSorted()'), true);
    assert.equal(run('[1, 2, 3].sum()'), 6n);
    assert.equal(run('[1.5, 2.5].sum()'), 4);
    assert.equal(run('[].sum()'), 0n);
    assert.equal(run('[3, 1, 2].min()'), 1n);
    assert.equal(run('["a", "c", "b"].max()'), 'c');
    assert.equal(run('[1, 2, 1].indexOf(1)'), 0n);
    assert.equal(run('[1, 2, 1].lastIndexOf(1)'), 2n);
    assert.equal(run('self.l.indexOf(9)', { l: [1n] }), -1n);
    assert.throws(() => run('self.l.min()', { l: [] }), (e: CelEvalError) => e instanceof CelEvalError && /empty list/.test(e.message));
  });

  it('strings extension', () => {
    assert.equal(run('"AbC".lowerAscii() + "x".upperAscii()'), 'abcX');
    assert.equal(run('"a-b-c".replace("-", "+")'), 'a+b+c');
    assert.equal(run('"a-b-c".replace("-", "+", 1)'), 'a+b-c');
    assert.deepEqual(run('"a,b".split(",")'), ['a', 'b']);
    assert.equal(run('["a", "b"].join("/")'), 'a/b');
    assert.equal(run('"  x ".trim()'), 'x');
    assert.equal(run('"hello".substring(1, 3)'), 'el');
    assert.equal(run('"hello".indexOf("l")'), 2n);
    assert.equal(run('"hello".charAt(1)'), 'e');
    assert.equal(run('"abc".reverse()'), 'cba');
    assert.equal(run('strings.quote("a\\"b")'), '"a\\"b"');
  });

  it('regex library', () => {
    assert.equal(run('"abc 123 def 456".find("[0-9]+")'), '123');
    assert.equal(run('"abc".find("[0-9]+")'), '');
    assert.deepEqual(run('"abc 123 def 456".findAll("[0-9]+")'), ['123', '456']);
    assert.deepEqual(run('"1 2 3".findAll("[0-9]", 2)'), ['1', '2']);
    assert.equal(run('"abc".matches("^a.c$")'), true);
  });

  it('regexes are RE2: linear time, RE2 syntax, no backreferences or lookaround', () => {
    // catastrophic for a backtracking engine: 2^n steps on a's followed by a b
    const evil = { s: `${'a'.repeat(30_000)}b` };
    const t0 = performance.now();
    assert.equal(run('self.s.matches("(a+)+$")', evil), false);
    assert.equal(run('self.s.matches("^(a+)+$")', evil), false);
    assert.equal(run('self.s.matches(self.p)', { ...evil, p: '^(a|aa)+$' }), false);
    assert.deepEqual(run('self.s.findAll("(a*)*c")', evil), []);
    assert.ok(performance.now() - t0 < 3_000, `took ${performance.now() - t0} ms`);
    // RE2-only syntax
    assert.equal(run('"ABC".matches("(?i)^abc\\\\z")'), true);
    assert.equal(run('"abc\\n".matches("abc\\\\z")'), false);
    assert.equal(run('"héllo".matches("^\\\\pL+$")'), true);
    assert.equal(run('"x1y22".find("(?P<n>[0-9]+)")'), '1');
    assert.deepEqual(run('"abc".findAll("")'), ['', '', '', '']);
    // a dyn receiver goes through the same engine
    assert.equal(run('self.s.matches("^a+b\\\\z")', evil), true);
    // constant invalid patterns fail at compile time with Go's wording and the pattern's position
    for (const [src, msg] of [
      ['"aa".matches("(a)\\\\1")', /^ERROR: <input>:1:14: error parsing regexp: invalid escape sequence: `\\1`/],
      ['"a".find("(?=a)")', /error parsing regexp: invalid or unsupported Perl syntax: `\(\?=`/],
      ['"a".findAll("[", 1)', /error parsing regexp: missing closing \]/],
      ['[1].all(x, "a".matches("(?<!a)b"))', /error parsing regexp: invalid named capture/],
    ] as const) {
      const c = env.compile(src, { self: 'dyn' });
      assert.equal(c.ok, false, src);
      assert.match(c.ok ? '' : c.message, msg);
    }
    // a pattern only known at run time fails the evaluation
    assert.throws(() => run('"aa".matches(self.p)', { p: '(a)\\1' }), (e: CelEvalError) => e instanceof CelEvalError && /invalid escape sequence/.test(e.message));
  });

  it('quantity library', () => {
    assert.equal(run('quantity("1Gi").isGreaterThan(quantity("1G"))'), true);
    assert.equal(run('quantity("500m").isInteger()'), false);
    assert.equal(run('quantity("2k").asInteger()'), 2000n);
    assert.equal(run('quantity("1").add(quantity("500m")).asApproximateFloat()'), 1.5);
    assert.equal(run('quantity("1").sub(2).sign()'), -1n);
    assert.equal(run('quantity("1Ki").compareTo(quantity("1024"))'), 0n);
    assert.equal(run('isQuantity("1.5Gi") && !isQuantity("1.5Gx")'), true);
    assert.throws(() => run('quantity("nope")'), CelEvalError);
  });

  it('url library', () => {
    assert.equal(run('url("https://example.com:8443/a/b?x=1&x=2").getHost()'), 'example.com:8443');
    assert.equal(run('url("https://example.com:443/").getPort()'), '443');
    assert.equal(run('url("https://[::1]:80/p").getHostname()'), '::1');
    assert.equal(run('url("https://example.com/a%20b").getEscapedPath()'), '/a%20b');
    assert.deepEqual(run('url("https://example.com/?x=1&x=2").getQuery()'), { x: ['1', '2'] });
    assert.equal(run('url("/just/a/path").getScheme()'), 'http');
    assert.equal(run('isURL("https://a.example") && !isURL("not a url") && !isURL("example.com/x")'), true);
  });

  it('format library', () => {
    assert.equal(run('!format.dns1123Label().validate("ok-name").hasValue()'), true);
    assert.equal(run('format.dns1123Label().validate("Not_OK").hasValue()'), true);
    assert.equal(run('format.named("labelValue").hasValue() && !format.named("nope").hasValue()'), true);
    assert.equal(run('!format.dns1123LabelPrefix().validate("gen-").hasValue()'), true);
    assert.equal(run('!format.uuid().validate("123e4567-e89b-12d3-a456-426614174000").hasValue()'), true);
  });

  it('ip and cidr library', () => {
    assert.equal(run('isIP("10.0.0.1") && isIP("fd00::1") && !isIP("10.0.0.01") && !isIP("::ffff:1.2.3.4")'), true);
    assert.equal(run('ip("fd00::1").family()'), 6n);
    assert.equal(run('ip("127.0.0.1").isLoopback() && ip("8.8.8.8").isGlobalUnicast()'), true);
    assert.equal(run('ip.isCanonical("2001:db8::1") && !ip.isCanonical("2001:DB8::1")'), true);
    assert.equal(run('cidr("10.0.0.0/8").containsIP("10.2.3.4") && !cidr("10.0.0.0/8").containsIP("11.0.0.1")'), true);
    assert.equal(run('cidr("10.0.0.0/8").containsCIDR("10.1.0.0/16") && !cidr("10.1.0.0/16").containsCIDR("10.0.0.0/8")'), true);
    assert.equal(run('string(cidr("10.1.2.3/8").masked())'), '10.0.0.0/8');
    assert.equal(run('cidr("10.0.0.0/8").prefixLength()'), 8n);
  });

  it('reports compile errors with their position', () => {
    const bad = env.compile('self.a ==', { self: 'dyn' });
    assert.equal(bad.ok, false);
    assert.match(!bad.ok ? bad.message : '', /^ERROR: <input>:1:10: /);
    const undeclared = env.compile('self.a == other', { self: 'dyn' });
    assert.match(!undeclared.ok ? undeclared.message : '', /^ERROR: <input>:1:11: Unknown variable: other/);
    const overload = env.compile('self.a.noSuchFunction()', { self: 'dyn' });
    assert.match(!overload.ok ? overload.message : '', /no matching overload/);
    const typed = env.compile('"a" + 1', { self: 'dyn' });
    assert.equal(typed.ok, false);
    const good = env.compile('self.x == oldSelf.x', { self: 'dyn', oldSelf: 'dyn' });
    assert.ok(good.ok && good.program.references.has('oldSelf') && good.program.type === 'bool');
  });

  it('bounds the cost of an evaluation', () => {
    const self = { l: Array.from({ length: 2000 }, (_, i) => BigInt(i)) };
    const c = env.compile('self.l.all(x, self.l.all(y, x + y >= 0))', { self: 'dyn' });
    assert.ok(c.ok);
    const started = performance.now();
    assert.throws(() => c.program.evaluate({ self }, new CelBudget({ limit: 100_000, timeoutMs: 5_000 })), (e: CelEvalError) => e.cost && /cost limit exceeded/.test(e.message));
    assert.ok(performance.now() - started < 2_000);
    // strings pay for their length: comprehensions over split() of a long string are charged too
    const s = { s: 'a'.repeat(20_000) };
    const split = env.compile('self.s.split("").all(x, self.s.split("").size() > 0)', { self: 'dyn' });
    assert.ok(split.ok);
    assert.throws(() => split.program.evaluate({ self: s }, new CelBudget({ limit: 1_000_000, timeoutMs: 5_000 })), (e: CelEvalError) => e.cost);
    // and the same rule over small data is within budget
    assert.equal(split.program.evaluate({ self: { s: 'abc' } }, budget()), true);
  });
});
