import type { HostPathVolumeSource } from 'kubernetes-types/core/v1.js';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';

type HostPathType = '' | 'DirectoryOrCreate' | 'Directory' | 'FileOrCreate' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice';

/** kubelet's hostPath type checks; messages follow upstream's wording. */
export async function checkHostPath(src: HostPathVolumeSource): Promise<void> {
  const type = (src.type ?? '') as HostPathType;
  const p = src.path;
  const st = await stat(p).catch(() => undefined);
  switch (type) {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (!st) await mkdir(p, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) throw typeErr(p, 'directory');
      return;
    case 'Directory':
      if (!st) throw new HedgeError('NotFound', `hostPath type check failed: ${p} is not a directory`);
      if (!st.isDirectory()) throw typeErr(p, 'directory');
      return;
    case 'FileOrCreate':
      if (!st) {
        await mkdir(dirname(p), { recursive: true, mode: 0o755 });
        await writeFile(p, '', { mode: 0o644, flag: 'a' });
      } else if (!st.isFile()) throw typeErr(p, 'file');
      return;
    case 'File':
      if (!st?.isFile()) throw typeErr(p, 'file');
      return;
    case 'Socket':
      if (!st?.isSocket()) throw typeErr(p, 'socket file');
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw typeErr(p, 'character device');
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw typeErr(p, 'block device');
      return;
    default: {
      const never: never = type;
      throw new HedgeError('Invalid', `unknown hostPath type ${String(never)}`);
    }
  }
}

const typeErr = (p: string, what: string): HedgeError => new HedgeError('Invalid', `hostPath type check failed: ${p} is not a ${what}`);
