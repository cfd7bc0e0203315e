import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../host/atomic-fs.ts';
import { podDir } from '../volumes/paths.ts';
import type { SandboxRecord } from './types.ts';

const FILE = 'sandbox.json';

/** written before the sandbox is made, so an agent killed mid-create still finds what to clean up */
export async function saveSandbox(dataDir: string, rec: SandboxRecord): Promise<void> {
  await writeFileAtomic(join(podDir(dataDir, rec.pod.uid), FILE), JSON.stringify(rec));
}

export async function loadSandbox(dataDir: string, uid: string): Promise<SandboxRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(podDir(dataDir, uid), FILE), 'utf8')) as SandboxRecord;
  } catch {
    return undefined;
  }
}

export async function deleteSandboxState(dataDir: string, uid: string): Promise<void> {
  await rm(join(podDir(dataDir, uid), FILE), { force: true });
}

/** every pod uid with a directory under <dataDir>/pods */
export async function knownPodUids(dataDir: string): Promise<string[]> {
  return readdir(join(dataDir, 'pods')).catch(() => [] as string[]);
}
