/**
 * A streaming tar reader for image layers (ustar, pax, GNU long names). node-tar's parser keeps
 * only the pax keys it knows and decodes values as UTF-8, so `SCHILY.xattr.*` records (binary
 * file capabilities among them) never reach its entries; layers need them byte-exact.
 */
import { HedgeError } from '../../lib/errors.ts';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarHeader {
  type: TarEntryType;
  /** as stored (pax `path` or GNU long name when present) */
  path: string;
  /** target of a symlink or hard link, as stored */
  linkpath: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch, fractional from pax records */
  mtime: number;
  atime?: number;
  devmajor: number;
  devminor: number;
  /** from `SCHILY.xattr.NAME` pax records, values byte-exact */
  xattrs: Map<string, Buffer>;
}

const BLOCK = 512;

function corrupt(msg: string): HedgeError {
  return new HedgeError('Invalid', `corrupt layer: ${msg}`);
}

/** Pulls exact byte counts out of an async iterable of chunks. */
class ByteReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private done = false;
  /** bytes handed out so far: the offset reported in errors */
  offset = 0;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.have += r.value.length;
      }
    }
  }

  /** up to `max` bytes (at least one), or undefined at the end of the stream */
  async some(max: number): Promise<Buffer | undefined> {
    await this.fill(1);
    if (this.have === 0) return undefined;
    const first = this.chunks[0];
    if (first.length <= max) {
      this.chunks.shift();
      this.have -= first.length;
      this.offset += first.length;
      return first;
    }
    this.chunks[0] = first.subarray(max);
    this.have -= max;
    this.offset += max;
    return first.subarray(0, max);
  }

  /** exactly n bytes, or fewer only when the stream ended */
  async exact(n: number): Promise<Buffer> {
    await this.fill(n);
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const b = await this.some(need);
      if (!b) break;
      parts.push(b);
      need -= b.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** reads to the end (trailing zero blocks still count for the diff id) */
  async drain(): Promise<void> {
    while (await this.some(1 << 20));
  }
}

function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('utf8');
}

function num(b: Buffer, field: string): number {
  if (b[0] & 0x80) {
    // base-256 (GNU), big-endian: sizes over 8 GiB; a negative value (times before 1970) reads as 0
    if (b[0] & 0x40) return 0;
    let v = b[0] & 0x3f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i];
    return v;
  }
  const s = b.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ \0]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw corrupt(`bad ${field} field "${s}"`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = num(h.subarray(148, 156), 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

interface Pax {
  records: Map<string, Buffer>;
}

/** pax records are "LEN KEY=VALUE\n" with LEN counting the whole record; values may hold any byte */
function parsePax(body: Buffer, at: number): Pax {
  const records = new Map<string, Buffer>();
  let i = 0;
  while (i < body.length) {
    if (body[i] === 0) break;
    const sp = body.indexOf(0x20, i);
    if (sp < 0) throw corrupt(`bad pax record at byte ${at}`);
    const len = Number(body.subarray(i, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= sp - i || i + len > body.length || body[i + len - 1] !== 0x0a) throw corrupt(`bad pax record length at byte ${at}`);
    const rec = body.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw corrupt(`pax record without "=" at byte ${at}`);
    records.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    i += len;
  }
  return { records };
}

const TYPES: Record<string, TarEntryType | undefined> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

export interface TarEntryStream {
  header: TarHeader;
  /** the entry's data in chunks; must be consumed (or skipped) before the next entry */
  body(): AsyncGenerator<Buffer>;
}

/**
 * Yields each entry of a tar stream. A stream ending inside a header or data is "truncated"; a bad
 * header checksum, number field or unknown entry type is "corrupt". After the end-of-archive
 * marker the rest of the stream is read, so a hash over the source covers every byte.
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntryStream> {
  const r = new ByteReader(source);
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Pax | undefined;
  for (;;) {
    const at = r.offset;
    const h = await r.exact(BLOCK);
    if (h.length === 0) return; // no end-of-archive marker: Go's reader also accepts this
    if (h.length < BLOCK) throw new HedgeError('Invalid', `truncated layer: stream ends inside the header at byte ${at}`);
    if (h.every((b) => b === 0)) {
      await r.drain();
      return;
    }
    if (!checksumOk(h)) throw corrupt(`bad header checksum at byte ${at}`);
    const flag = String.fromCharCode(h[156]);
    let size = num(h.subarray(124, 136), 'size');
    const paxSize = pax?.records.get('size');
    if (paxSize && flag !== 'x' && flag !== 'g' && flag !== 'L' && flag !== 'K') size = Number(paxSize.toString('latin1'));
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(`bad size at byte ${at}`);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const readMeta = async (): Promise<Buffer> => {
      if (size > 16 << 20) throw corrupt(`metadata entry of ${size} bytes at byte ${at}`);
      const b = await r.exact(padded);
      if (b.length < padded) throw new HedgeError('Invalid', `truncated layer: stream ends inside the entry at byte ${at}`);
      return b.subarray(0, size);
    };
    if (flag === 'x') {
      const next = parsePax(await readMeta(), at);
      pax = pax ? { records: new Map([...pax.records, ...next.records]) } : next;
      continue;
    }
    if (flag === 'g') {
      // global pax headers carry no per-file data images rely on; containerd ignores them too
      await readMeta();
      continue;
    }
    if (flag === 'L' || flag === 'K') {
      const v = cstr(await readMeta());
      if (flag === 'L') longName = v;
      else longLink = v;
      continue;
    }
    const type = TYPES[flag];
    if (!type) throw corrupt(`unsupported tar entry type "${flag.replace(/[^\x20-\x7e]/g, '?')}" at byte ${at}`);
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic === 'ustar\0' ? cstr(h.subarray(345, 500)) : '';
    const rec = pax?.records;
    const str = (k: string): string | undefined => rec?.get(k)?.toString('utf8');
    const time = (k: string): number | undefined => {
      const v = str(k);
      return v === undefined ? undefined : Number(v);
    };
    let path = str('path') ?? longName ?? (prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100)));
    if (type === 'dir') path = path.replace(/\/+$/, '') || '/';
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of rec ?? []) {
      if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
      else if (k.startsWith('GNU.sparse.')) throw corrupt(`sparse files are not supported (entry "${path}")`);
    }
    const header: TarHeader = {
      type,
      path,
      linkpath: str('linkpath') ?? longLink ?? cstr(h.subarray(157, 257)),
      mode: num(h.subarray(100, 108), 'mode') & 0o7777,
      uid: rec?.has('uid') ? Number(str('uid')) : num(h.subarray(108, 116), 'uid'),
      gid: rec?.has('gid') ? Number(str('gid')) : num(h.subarray(116, 124), 'gid'),
      size: type === 'file' ? size : 0,
      mtime: time('mtime') ?? num(h.subarray(136, 148), 'mtime'),
      ...(rec?.has('atime') ? { atime: time('atime') } : {}),
      devmajor: num(h.subarray(329, 337), 'devmajor'),
      devminor: num(h.subarray(337, 345), 'devminor'),
      xattrs,
    };
    if (!Number.isSafeInteger(header.uid) || !Number.isSafeInteger(header.gid) || header.uid < 0 || header.gid < 0) throw corrupt(`bad owner on "${path}"`);
    longName = undefined;
    longLink = undefined;
    pax = undefined;
    let left = size;
    let consumed = false;
    const body = async function* (): AsyncGenerator<Buffer> {
      consumed = true;
      while (left > 0) {
        const b = await r.some(left);
        if (!b) throw new HedgeError('Invalid', `truncated layer: stream ends inside "${path}" (${left} of ${size} bytes missing)`);
        left -= b.length;
        yield b;
      }
    };
    yield { header, body };
    if (!consumed || left > 0) for await (const _ of body()) void _;
    const pad = padded - size;
    if (pad > 0 && (await r.exact(pad)).length < pad) throw new HedgeError('Invalid', `truncated layer: stream ends after "${path}"`);
  }
}
