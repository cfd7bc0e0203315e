/**
 * A cpio "newc" archive writer (what the kernel's initramfs unpacker reads). Written here rather
 * than shelling out to cpio(1) so the archive is byte-for-byte reproducible: entries sorted,
 * mtime 0, uid/gid 0, inode numbers by position.
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; data: Buffer }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}

function header(o: { ino: number; mode: number; nlink: number; size: number; rdevMajor: number; rdevMinor: number; name: string }): Buffer {
  const nameBuf = Buffer.from(`${o.name}\0`);
  const fields = [o.ino, o.mode, 0, 0, o.nlink, 0, o.size, 0, 0, o.rdevMajor, o.rdevMinor, nameBuf.length, 0];
  const h = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return Buffer.concat([h, nameBuf, pad4(h.length + nameBuf.length)]);
}

/** Parents are created implicitly (mode 0755) so callers list only what matters. */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const p = e.path.replace(/^\/+/, '');
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!byPath.has(d)) byPath.set(d, { kind: 'dir', path: d, mode: 0o755 });
    }
    byPath.set(p, { ...e, path: p });
  }
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const out: Buffer[] = [];
  let ino = 1;
  for (const e of sorted) {
    switch (e.kind) {
      case 'dir':
        out.push(header({ ino: ino++, mode: S_IFDIR | e.mode, nlink: 2, size: 0, rdevMajor: 0, rdevMinor: 0, name: e.path }));
        break;
      case 'file':
        out.push(header({ ino: ino++, mode: S_IFREG | e.mode, nlink: 1, size: e.data.length, rdevMajor: 0, rdevMinor: 0, name: e.path }));
        out.push(e.data, pad4(e.data.length));
        break;
      case 'symlink': {
        const t = Buffer.from(e.target);
        out.push(header({ ino: ino++, mode: S_IFLNK | 0o777, nlink: 1, size: t.length, rdevMajor: 0, rdevMinor: 0, name: e.path }));
        out.push(t, pad4(t.length));
        break;
      }
      case 'chardev':
        out.push(header({ ino: ino++, mode: S_IFCHR | e.mode, nlink: 1, size: 0, rdevMajor: e.major, rdevMinor: e.minor, name: e.path }));
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown cpio entry ${JSON.stringify(never)}`);
      }
    }
  }
  out.push(header({ ino: 0, mode: 0, nlink: 1, size: 0, rdevMajor: 0, rdevMinor: 0, name: 'TRAILER!!!' }));
  return Buffer.concat(out);
}
