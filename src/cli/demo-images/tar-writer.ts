/**
 * A minimal ustar/pax writer for building test layers byte-for-byte: we need exact control over
 * whiteout entries, modes, owners, symlinks and hardlinks, which packing from a real directory
 * cannot give without root-owned staging trees.
 */
export type TarEntry =
  | { type: 'file'; path: string; data: Buffer | string; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string | Buffer> }
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string | Buffer> }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'hardlink'; path: string; target: string }
  | { type: 'fifo'; path: string }
  | { type: 'device'; path: string; kind: 'char' | 'block'; major: number; minor: number };

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(fields: { name: string; mode: number; uid: number; gid: number; size: number; type: string; linkname?: string; dev?: [number, number] }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(fields.name, 0, 100, 'utf8');
  h.write(octal(fields.mode, 8), 100, 'ascii');
  h.write(octal(fields.uid, 8), 108, 'ascii');
  h.write(octal(fields.gid, 8), 116, 'ascii');
  h.write(octal(fields.size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(fields.type, 156, 'ascii');
  if (fields.linkname) h.write(fields.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  if (fields.dev) {
    h.write(octal(fields.dev[0], 8), 329, 'ascii');
    h.write(octal(fields.dev[1], 8), 337, 'ascii');
  }
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function pad(data: Buffer): Buffer[] {
  const rest = data.length % BLOCK;
  return rest === 0 ? [data] : [data, Buffer.alloc(BLOCK - rest)];
}

function paxRecord(key: string, value: string | Buffer): Buffer {
  // the length prefix counts itself, so iterate until it is stable; values may be binary
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = body.length;
  while (`${len}`.length + body.length !== len) len = `${len}`.length + body.length;
  return Buffer.concat([Buffer.from(`${len}`), body]);
}

export function writeTar(entries: TarEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const pax: Record<string, string | Buffer> = {};
    if (Buffer.byteLength(e.path) > 99) pax.path = e.path;
    if ((e.type === 'symlink' || e.type === 'hardlink') && Buffer.byteLength(e.target) > 99) pax.linkpath = e.target;
    if ((e.type === 'dir' || e.type === 'file') && e.xattrs) for (const [k, v] of Object.entries(e.xattrs)) pax[`SCHILY.xattr.${k}`] = v;
    if (Object.keys(pax).length > 0) {
      const body = Buffer.concat(Object.entries(pax).map(([k, v]) => paxRecord(k, v)));
      out.push(header({ name: 'PaxHeader', mode: 0o644, uid: 0, gid: 0, size: body.length, type: 'x' }), ...pad(body));
    }
    const name = e.path.slice(0, 99);
    switch (e.type) {
      case 'file': {
        const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
        out.push(header({ name, mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0, size: data.length, type: '0' }), ...pad(data));
        break;
      }
      case 'dir':
        out.push(header({ name: name.endsWith('/') ? name : `${name}/`, mode: e.mode ?? 0o755, uid: e.uid ?? 0, gid: e.gid ?? 0, size: 0, type: '5' }));
        break;
      case 'symlink':
        out.push(header({ name, mode: 0o777, uid: 0, gid: 0, size: 0, type: '2', linkname: e.target.slice(0, 99) }));
        break;
      case 'hardlink':
        out.push(header({ name, mode: 0o644, uid: 0, gid: 0, size: 0, type: '1', linkname: e.target.slice(0, 99) }));
        break;
      case 'fifo':
        out.push(header({ name, mode: 0o644, uid: 0, gid: 0, size: 0, type: '6' }));
        break;
      case 'device':
        out.push(header({ name, mode: 0o600, uid: 0, gid: 0, size: 0, type: e.kind === 'char' ? '3' : '4', dev: [e.major, e.minor] }));
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown tar entry ${JSON.stringify(never)}`);
      }
    }
  }
  out.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(out);
}
