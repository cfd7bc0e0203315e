/**
 * The node's local-path volumes: `<dataDir>/local-path/<volumeHandle>`, one directory per PV the
 * cloud's PV controller provisioned for this node (`hedge.io/local-path`, CSI driver
 * `local-path.hedge.io`). The agent makes the directory on first mount and never removes it with
 * a pod: only `DELETE /volumes/local-path/<handle>` on the node server does, once no pod of this
 * node has it mounted.
 *
 * Which pods use which volume is kept on disk, so it survives an agent restart: a pod that mounts
 * handle H gets an empty marker `<dataDir>/pods/<uid>/local-path/H`, which goes with the pod's
 * directory at tear-down (and with an orphan's at the next agent start). Mounting and removing
 * the same handle are serialized in-process, so a removal never races a pod's first mount.
 */
import { chmod, lstat, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import { KeyedLock } from '../../lib/keyed-lock.ts';
import { podDir } from './paths.ts';

/** the CSI driver name the cloud's local-path provisioner writes into `spec.csi.driver` (one definition, src/api/storage) */
export { LOCAL_PATH_DRIVER } from '../../api/storage/names.ts';

/** a volume handle as the provisioner makes them (`pvc-<uid>`): a single safe path segment */
const HANDLE = /^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$/;

export function validateLocalPathHandle(handle: string): void {
  if (!HANDLE.test(handle) || handle.includes('..')) {
    throw new HedgeError('BadRequest', `invalid local-path volume handle "${handle}": must be lower-case letters, digits, '.', '_' or '-' (no '/', no '..'), at most 253 characters`, {
      details: { kind: 'volumes', name: handle, causes: [{ field: 'volumeHandle', reason: 'FieldValueInvalid', message: 'not a safe local-path volume handle' }] },
    });
  }
}

export class LocalPathVolumes {
  readonly root: string;
  readonly #dataDir: string;
  readonly #lock = new KeyedLock();

  constructor(opts: { dataDir: string }) {
    this.#dataDir = opts.dataDir;
    this.root = join(opts.dataDir, 'local-path');
  }

  /** the volume's directory; validates the handle */
  dir(handle: string): string {
    validateLocalPathHandle(handle);
    return join(this.root, handle);
  }

  /**
   * Records that pod `uid` mounts `handle` and makes the directory (0777, as rancher's
   * local-path-provisioner, so non-root containers can write). An existing directory keeps its
   * contents and mode; a symlink in its place is refused (a bind mount would follow it out).
   */
  async mount(uid: string, handle: string): Promise<string> {
    const dir = this.dir(handle);
    return this.#lock.run(handle, async () => {
      const marks = join(podDir(this.#dataDir, uid), 'local-path');
      await mkdir(marks, { recursive: true });
      await writeFile(join(marks, handle), '');
      await mkdir(this.root, { recursive: true, mode: 0o711 });
      const st = await lstat(dir).catch(() => undefined);
      if (st?.isSymbolicLink()) throw new HedgeError('Invalid', `local-path volume ${handle}: ${dir} is a symlink; refusing to mount it`);
      if (st && !st.isDirectory()) throw new HedgeError('Invalid', `local-path volume ${handle}: ${dir} is not a directory`);
      if (!st) {
        await mkdir(dir, { mode: 0o777 });
        await chmod(dir, 0o777); // past the umask
      }
      return dir;
    });
  }

  /** uids of the pods on this node that have `handle` mounted (a marker in their pod directory) */
  async users(handle: string): Promise<string[]> {
    validateLocalPathHandle(handle);
    const out: string[] = [];
    for (const uid of await readdir(join(this.#dataDir, 'pods')).catch(() => [] as string[])) {
      if (await stat(join(podDir(this.#dataDir, uid), 'local-path', handle)).then(() => true, () => false)) out.push(uid);
    }
    return out;
  }

  /**
   * Removes the volume's directory: Conflict while a pod of this node has it mounted; true when
   * it was removed, false when there was nothing (idempotent). A symlink in its place is removed
   * as a link, never followed; nothing outside `<dataDir>/local-path/` is touched.
   */
  async remove(handle: string): Promise<boolean> {
    const dir = this.dir(handle);
    return this.#lock.run(handle, async () => {
      const users = await this.users(handle);
      if (users.length > 0) {
        throw new HedgeError('Conflict', `local-path volume ${handle} is in use by ${users.length} pod(s) on this node (uid ${users.join(', ')})`, {
          details: { kind: 'volumes', name: handle },
        });
      }
      // the root itself is the host admin's (it may be a symlink to another disk); entries under it are ours
      const rootSt = await stat(this.root).catch(() => undefined);
      if (!rootSt) return false;
      if (!rootSt.isDirectory()) throw new HedgeError('Unavailable', `${this.root} is not a directory; refusing to remove volumes under it`);
      const st = await lstat(dir).catch(() => undefined);
      if (!st) return false;
      // fs.rm unlinks symlinks (the volume itself or anything inside) without following them
      await rm(dir, { recursive: true, force: true });
      return true;
    });
  }
}
