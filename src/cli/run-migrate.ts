import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HedgeError } from '../lib/errors.ts';
import { EtcdStore, SqliteStore, migrateStore } from '../store/index.ts';

export interface RunMigrateOptions {
  /** data dir or state.db path */
  from: string;
  endpoints: string[];
  prefix: string;
  tlsFiles: { ca?: string; cert?: string; key?: string };
  out: NodeJS.WritableStream;
}

async function pem(flag: string, path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new HedgeError('Invalid', `${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The state.db that `--from` names (a data dir or the file itself); never creates one. */
export function sqlitePathOf(from: string): string {
  const path = existsSync(from) && statSync(from).isDirectory() ? join(from, 'state.db') : from;
  if (!existsSync(path)) throw new HedgeError('NotFound', `--from ${from}: no SQLite database at ${path}`);
  return path;
}

export async function runMigrate(opts: RunMigrateOptions): Promise<void> {
  const path = sqlitePathOf(opts.from);
  const ca = await pem('--etcd-cafile', opts.tlsFiles.ca);
  const cert = await pem('--etcd-certfile', opts.tlsFiles.cert);
  const key = await pem('--etcd-keyfile', opts.tlsFiles.key);
  // no automatic compaction while we read: history is not needed, but nothing may change either
  const source = new SqliteStore({ path, compactIntervalMs: 0 });
  const target = new EtcdStore({ endpoints: opts.endpoints, prefix: opts.prefix, tls: ca === undefined ? undefined : { ca, cert, key } });
  try {
    try {
      await target.status({ timeoutMs: 5_000 });
    } catch (err) {
      throw new HedgeError('Unavailable', `--to ${opts.endpoints.join(',')}: ${(err as Error).message}`, { cause: err });
    }
    const started = performance.now();
    let lastReport = 0;
    const r = await migrateStore(source, target, {
      onProgress: (done, total) => {
        if (done === total || performance.now() - lastReport > 2_000) {
          lastReport = performance.now();
          opts.out.write(`copied ${done}/${total}\n`);
        }
      },
    });
    const secs = (performance.now() - started) / 1000;
    opts.out.write(
      `migrated ${r.count} objects from ${path} (revision ${r.sourceRevision}) to etcd ${opts.endpoints.join(',')}${opts.prefix ? ` prefix ${opts.prefix}` : ''}` +
        ` (revisions ${r.targetRevisions.first}..${r.targetRevisions.last}) in ${secs.toFixed(1)} s; verified: count ${r.count}, ${r.checksum}, revision order kept\n`,
    );
  } finally {
    await target.close();
    await source.close();
  }
}
