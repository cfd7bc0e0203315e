import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dialableHost, formatHostPort, parseListenAddress } from './listen-address.ts';

describe('parseListenAddress', () => {
  it('parses IPv4, names and bracketed IPv6', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:6443'), { host: '127.0.0.1', port: 6443 });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseListenAddress('[::1]:8443'), { host: '::1', port: 8443 });
  });
  it('explains what is wrong', () => {
    assert.match(parseListenAddress('6443') as string, /not HOST:PORT/);
    assert.match(parseListenAddress(':6443') as string, /no host/);
    assert.match(parseListenAddress('h:70000') as string, /out of range/);
    assert.match(parseListenAddress('[nope]:1') as string, /not an IPv6/);
    assert.match(parseListenAddress('::1:6443') as string, /not HOST:PORT/);
  });
  it('formats and maps wildcards to loopback', () => {
    assert.equal(formatHostPort('::1', 1), '[::1]:1');
    assert.equal(formatHostPort('a', 1), 'a:1');
    assert.equal(dialableHost('0.0.0.0'), '127.0.0.1');
    assert.equal(dialableHost('::'), '::1');
    assert.equal(dialableHost('10.0.0.1'), '10.0.0.1');
  });
});
