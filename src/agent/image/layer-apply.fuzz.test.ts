/**
 * Property test of image-layer unpacking: random layers (files, dirs, symlinks absolute, relative
 * and climbing with `..`, hard links, whiteouts, opaque dirs, devices, fifos, long names,
 * duplicates, `..`/`//`/`./` in paths, xattrs), some of them mutated at the byte level
 * (truncated, bytes flipped), are applied onto a fresh snapshot dir beside a canary tree and a
 * lower layer. After each case nothing outside the snapshot may have changed (every path, type,
 * mode, owner, size, link count, content and link target compared), and the only failure allowed
 * is a HedgeError. Seeded and reproducible: HEDGE_FUZZ_SEED=<n> replays a run,
 * HEDGE_FUZZ_SECONDS=<s> changes its length (default 20 s); a failure prints the seed and case.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeTar, type TarEntry } from '../../../test/fixtures/images/tar-writer.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { seededRandom } from '../../lib/testing/seeded-random.ts';
import { applyLayer } from './layer-apply.ts';

const SEED = Number(process.env.HEDGE_FUZZ_SEED ?? 20261203);
const SECONDS = Number(process.env.HEDGE_FUZZ_SECONDS ?? 20);

/**
 * Every name a layer may use. None is a name on a real system (no etc/passwd), so an escape
 * through an absolute symlink to `/` would create one of them in `/` or the temp dir, which is
 * checked, rather than overwrite a host file.
 */
const NAMES = ['a', 'b', 'c', 'hfz-victim', 'outside', 'lower', 'ü-hfz', 'sp ace-hfz'] as const;

/** the NAMES present in `/` and the temp dir (a bug would add one) */
async function strayNames(): Promise<string[]> {
  const out: string[] = [];
  for (const d of ['/', tmpdir()]) {
    const have = new Set(await readdir(d));
    for (const n of NAMES) if (have.has(n)) out.push(join(d, n));
  }
  return out;
}

let base = '';
let outside = '';
let lower = '';

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'hedge-layer-fuzz-'));
  outside = join(base, 'outside');
  lower = join(base, 'lower');
  await mkdir(join(outside, 'etc'), { recursive: true });
  await writeFile(join(outside, 'etc', 'passwd'), 'canary\n');
  await writeFile(join(outside, 'victim'), 'canary\n', { mode: 0o600 });
  await symlink('/etc/hostname', join(outside, 'link'));
  await mkdir(join(lower, 'a', 'b'), { recursive: true });
  await writeFile(join(lower, 'a', 'b', 'f'), 'lower\n');
  await writeFile(join(lower, 'a', 'g'), 'lower\n');
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** everything about a tree that a write, chmod, chown, link or unlink could change */
async function fingerprint(dir: string, out: Map<string, string> = new Map(), rel = ''): Promise<Map<string, string>> {
  const st = await lstat(join(dir, rel));
  let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} n${st.nlink} s${st.size} m${st.mtimeMs}`;
  if (st.isSymbolicLink()) what += ` -> ${await readlink(join(dir, rel))}`;
  else if (st.isFile()) what += ` #${createHash('sha256').update(await readFile(join(dir, rel))).digest('hex').slice(0, 16)}`;
  out.set(rel || '.', what);
  if (st.isDirectory()) for (const e of (await readdir(join(dir, rel))).sort()) await fingerprint(dir, out, rel ? `${rel}/${e}` : e);
  return out;
}

function generate(rnd: () => number): { entries: TarEntry[]; describe: string } {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const seg = (): string =>
    rnd() < 0.06 ? pick(['..', '.', '', '.wh.a', '.wh.b', '.wh..wh..opq']) : rnd() < 0.05 ? 'x'.repeat(1 + Math.floor(rnd() * 120)) : pick(NAMES);
  const path = (): string => {
    const parts = Array.from({ length: 1 + Math.floor(rnd() * 4) }, seg);
    const lead = rnd() < 0.85 ? pick(['', '', '/', './', '//']) : pick(['../', '../../outside/', '/../']);
    return lead + parts.join(pick(['/', '/', '//', '/./']));
  };
  const target = (): string =>
    pick([path(), `/${path()}`, '/', '..', '../..', '../../outside/victim', '../../../outside/etc', outside, join(outside, 'victim'), join(outside, 'etc'), join(lower, 'a')]);
  const used: string[] = [];
  const files: string[] = [];
  const entries: TarEntry[] = [];
  const n = 1 + Math.floor(rnd() * 24);
  for (let i = 0; i < n; i++) {
    // duplicates: a path used before comes back as another type
    const p = used.length && rnd() < 0.3 ? pick(used) : path();
    used.push(p);
    const k = rnd();
    const xattrs = rnd() < 0.1 ? { [pick(['user.fuzz', 'trusted.overlay.opaque', 'security.capability', 'trusted.overlay.redirect'])]: pick(['y', '/etc', Buffer.from([1, 0, 0, 2])]) } : undefined;
    if (k < 0.25) files.push(p);
    if (k < 0.25) entries.push({ type: 'file', path: p, data: pick(['', 'layer\n', 'z'.repeat(Math.floor(rnd() * 3000))]), mode: pick([0o644, 0o755, 0o4755, 0o777, 0o000]), uid: pick([0, 1000, 65534]), gid: pick([0, 100]), xattrs });
    else if (k < 0.45) entries.push({ type: 'dir', path: p, mode: pick([0o755, 0o700, 0o1777, 0o000]), xattrs });
    else if (k < 0.65) entries.push({ type: 'symlink', path: p, target: target() });
    else if (k < 0.78) entries.push({ type: 'hardlink', path: p, target: rnd() < 0.75 && files.length ? pick(files) : target() });
    else if (k < 0.86) entries.push({ type: 'file', path: `${p}/${pick(['.wh.a', '.wh.b', '.wh..wh..opq', '.wh.etc', '.wh...', '.wh..'])}`, data: '' });
    else if (k < 0.93) entries.push({ type: 'device', path: p, kind: pick(['char', 'block'] as const), major: pick([0, 1, 8, 253]), minor: pick([0, 3, 5]) });
    else entries.push({ type: 'fifo', path: p });
  }
  return { entries, describe: JSON.stringify(entries.map((e) => ({ ...e, data: e.type === 'file' ? `<${typeof e.data === 'string' ? e.data.length : e.data.length} bytes>` : undefined }))) };
}

function mutate(tar: Buffer, rnd: () => number): { bytes: Buffer; how: string } {
  const m = rnd();
  if (m < 0.8) return { bytes: tar, how: 'intact' };
  if (m < 0.9) {
    const at = Math.floor(rnd() * tar.length);
    return { bytes: tar.subarray(0, at), how: `truncated at ${at}` };
  }
  const b = Buffer.from(tar);
  const flips: number[] = [];
  for (let i = 0; i < 1 + Math.floor(rnd() * 8); i++) {
    const at = Math.floor(rnd() * Math.min(b.length, 4096));
    b[at] = Math.floor(rnd() * 256);
    flips.push(at);
  }
  return { bytes: b, how: `bytes changed at ${flips.join(',')}` };
}

test(`random layers never write outside the snapshot (seed ${SEED}, ~${SECONDS} s)`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const rnd = seededRandom(SEED);
  const want = new Map([...(await fingerprint(outside))].map(([k, v]) => [`outside/${k}`, v]));
  for (const [k, v] of await fingerprint(lower)) want.set(`lower/${k}`, v);
  const strayBefore = await strayNames();
  const deadline = Date.now() + SECONDS * 1000;
  const outcomes = new Map<string, number>();
  let cases = 0;
  while (Date.now() < deadline) {
    const c = cases++;
    const { entries, describe } = generate(rnd);
    const { bytes, how } = mutate(writeTar(entries), rnd);
    const blob = join(base, 'blob');
    const snap = join(base, 'snap');
    await rm(snap, { recursive: true, force: true });
    await mkdir(snap);
    await writeFile(blob, bytes);
    const where = `seed ${SEED} case ${c} (${how}): ${describe}`;
    let outcome = 'applied';
    try {
      await applyLayer(blob, snap, { parents: [lower], signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      assert.ok(isHedgeError(err), `not a HedgeError: ${String((err as Error).stack ?? err)}\n${where}`);
      outcome = `refused ${err.code}`;
      if (process.env.HEDGE_FUZZ_VERBOSE) process.stdout.write(`# case ${c}: ${err.code} ${err.message}\n`);
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    const got = new Map([...(await fingerprint(outside))].map(([k, v]) => [`outside/${k}`, v]));
    for (const [k, v] of await fingerprint(lower)) got.set(`lower/${k}`, v);
    assert.deepEqual(got, want, `something outside the snapshot changed\n${where}`);
    assert.deepEqual((await readdir(base)).sort(), ['blob', 'lower', 'outside', 'snap'], `a file appeared beside the snapshot\n${where}`);
    assert.deepEqual(await strayNames(), strayBefore, `a layer name appeared in / or the temp dir\n${where}`);
  }
  process.stdout.write(`# layer-apply fuzz: seed ${SEED}, ${cases} layers in ${SECONDS} s: ${[...outcomes].map(([k, v]) => `${k}×${v}`).join(', ')}\n`);
  assert.ok(cases > 20, `only ${cases} cases ran`);
  assert.ok((outcomes.get('applied') ?? 0) > 0 && outcomes.size > 1, 'both applied and refused layers were generated');
});
