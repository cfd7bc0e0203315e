/** pty-run.c, built on first use (../c-helper.ts). */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CHelper } from '../c-helper.ts';

export const PTY_HELPER: CHelper = { name: 'pty-run', source: join(dirname(fileURLToPath(import.meta.url)), 'pty-run.c'), neededBy: 'exec --tty with a terminal size' };
