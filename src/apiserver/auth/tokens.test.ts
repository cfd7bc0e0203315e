import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { TokenFile, formatTokenCsv, parseTokenCsv } from './tokens.ts';

describe('token csv', () => {
  it('parses kube static token file lines', () => {
    const recs = parseTokenCsv('# comment\nabc,alice,u1,"dev,ops"\n\ndef,bob\nghi,carol,,one\n');
    assert.deepEqual(recs, [
      { token: 'abc', user: { username: 'alice', uid: 'u1', groups: ['dev', 'ops'] } },
      { token: 'def', user: { username: 'bob', groups: [] } },
      { token: 'ghi', user: { username: 'carol', groups: ['one'] } },
    ]);
  });

  it('round-trips through format', () => {
    const recs = [
      ...parseTokenCsv('abc,alice,u1,"dev,ops"\n'),
      { token: 'x,"y', user: { username: 'bob b', groups: [] } },
    ];
    assert.deepEqual(parseTokenCsv(formatTokenCsv(recs)), recs);
  });

  it('names the file and line of a bad entry', () => {
    assert.throws(
      () => parseTokenCsv('ok,alice\nlonely\n', '/x/tokens.csv'),
      (e) => isHedgeError(e, 'Invalid') && e.message.startsWith('/x/tokens.csv:2:'),
    );
    assert.throws(() => parseTokenCsv('a,b,c,"open\n'), /unterminated quote/);
    assert.throws(() => parseTokenCsv('a,b\na,c\n'), /duplicate token/);
    assert.throws(() => parseTokenCsv(',b\n'), /empty token/);
  });
});

describe('TokenFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-tokens-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates node and bootstrap tokens, persists them 0600, and looks them up', async () => {
    const path = join(dir, 'a', 'tokens.csv');
    const f = await TokenFile.open(path);
    assert.equal(f.lookup('nope'), undefined);
    const node = await f.createNodeToken('edge-1');
    assert.deepEqual(f.lookup(node), { username: 'system:node:edge-1', uid: 'node:edge-1', groups: ['system:nodes'] });
    const boot = await f.ensureBootstrapToken();
    assert.match(boot, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    assert.equal(await f.ensureBootstrapToken(), boot);
    assert.equal(f.lookup(boot)?.username, `system:bootstrap:${boot.slice(0, 6)}`);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const again = await TokenFile.open(path);
    assert.equal(again.lookup(node)?.username, 'system:node:edge-1');
    assert.equal(again.list().length, 2);
    assert.equal(f.lookup(node.slice(0, -1)), undefined);
    assert.equal(f.lookup(`${node}x`), undefined);
    assert.equal(f.lookup(''), undefined);
  });

  it('sees tokens another process wrote', async () => {
    const path = join(dir, 'b.csv');
    const server = await TokenFile.open(path);
    const cli = await TokenFile.open(path);
    const t = await cli.createNodeToken('edge-2');
    assert.equal(server.lookup(t)?.username, 'system:node:edge-2');
    await writeFile(path, (await readFile(path, 'utf8')) + 'broken,"\n');
    // a broken edit must not take the good table down
    assert.equal(server.lookup(t)?.username, 'system:node:edge-2');
  });

  it('writers in parallel (the CLI run twice at once, beside the server) lose no token', async () => {
    const path = join(dir, 'd', 'tokens.csv');
    // each its own table, as each process has: all read the file, add, and rename a copy over it
    const writers = await Promise.all([1, 2, 3, 4].map(() => TokenFile.open(path)));
    const tokens = await Promise.all(writers.flatMap((w, i) => [1, 2, 3, 4, 5].map((j) => w.createNodeToken(`edge-${i}-${j}`))));
    const table = await TokenFile.open(path);
    assert.equal(table.list().length, 20, 'every token written');
    for (const t of tokens) assert.ok(table.lookup(t), 'each token found');
    assert.ok(!(await stat(`${path}.lock`).catch(() => undefined)), 'the lock is released');
  });

  it('takes over a lock whose owner is gone', async () => {
    const path = join(dir, 'e.csv');
    const dead = spawnSync('true').pid;
    await writeFile(`${path}.lock`, String(dead));
    const f = await TokenFile.open(path);
    const t = await f.createNodeToken('edge-9');
    assert.equal(f.lookup(t)?.username, 'system:node:edge-9');
  });

  it('rejects invalid node names', async () => {
    const f = await TokenFile.open(join(dir, 'c.csv'));
    await assert.rejects(f.createNodeToken('Bad_Name'), (e) => isHedgeError(e, 'Invalid'));
  });
});
