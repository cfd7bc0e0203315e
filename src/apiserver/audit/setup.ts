import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileSink, streamSink, type AuditSink } from './log-backend.ts';
import { parseAuditPolicy, type AuditPolicy } from './policy.ts';
import { RotatingFile } from './rotating-file.ts';

/** Read and validate a policy file; errors say what is wrong where (`rules[1].level: ...`). */
export async function loadAuditPolicyFile(path: string): Promise<AuditPolicy> {
  return parseAuditPolicy(await readFile(path, 'utf8'));
}

export interface AuditLogOptions {
  /** a file, or `-` for stdout */
  path: string;
  maxAgeDays: number;
  maxBackups: number;
  maxSizeMb: number;
}

/**
 * The sink of `--audit-log-path`. Like upstream's ensureLogFile, the file (and its directory,
 * 0700) is created now, mode 0600, so a path that cannot be written stops the start instead
 * of dropping every event later.
 */
export async function openAuditLog(o: AuditLogOptions): Promise<AuditSink> {
  if (o.path === '-') return streamSink(process.stdout);
  await mkdir(dirname(o.path), { recursive: true, mode: 0o700 });
  const fh = await open(o.path, 'a', 0o600);
  await fh.close();
  return fileSink(new RotatingFile({ path: o.path, maxAgeDays: o.maxAgeDays, maxBackups: o.maxBackups, maxSizeMb: o.maxSizeMb }));
}
