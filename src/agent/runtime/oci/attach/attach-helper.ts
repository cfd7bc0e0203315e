/** conmon-attach.c, built on first use (../c-helper.ts). */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CHelper } from '../c-helper.ts';

export const ATTACH_HELPER: CHelper = { name: 'conmon-attach', source: join(dirname(fileURLToPath(import.meta.url)), 'conmon-attach.c'), neededBy: 'attach' };
