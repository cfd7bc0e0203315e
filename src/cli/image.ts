import type { Command } from 'commander';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { ImageInfo } from '../agent/image/types.ts';
import type { ControlError } from '../agent/server/index.ts';
import { HedgeError, type ErrorCode } from '../lib/errors.ts';
import { usageError } from './usage-error.ts';
/** `hedge node`'s --data-dir default */
const NODE_DATA_DIR_DEFAULT = '/var/lib/hedge-node';

/** `<data-dir>/control.sock`: served by a running `hedge node` (see agent/server/local-control.ts) */
export const controlSocketPath = (dataDir: string): string => join(dataDir, 'control.sock');

interface ImageFlags {
  dataDir?: string;
  output?: string;
}

/** the image operations, either through a running agent or on its stopped data dir */
interface ImageOps {
  list(): Promise<ImageInfo[]>;
  import(path: string): Promise<ImageInfo[]>;
  remove(ref: string): Promise<void>;
  close(): Promise<void>;
}

export function registerImageCommand(program: Command): void {
  const image = program
    .command('image')
    .description("manage a node's images (through the running `hedge node`, else directly in its data dir): load them offline, list, remove");
  const dataDirOpt = ['--data-dir <dir>', `the node's data directory (default: ${NODE_DATA_DIR_DEFAULT})`] as const;
  image
    .command('import <path...>')
    .description('load images from OCI layouts (directory or tar) or docker-archives (`docker save`) so pods can run them without a registry')
    .option(...dataDirOpt)
    .action(async (paths: string[], flags: ImageFlags) =>
      withImages(flags, async (ops) => {
        for (const p of paths) {
          for (const i of await ops.import(resolve(p))) process.stdout.write(`imported ${i.ref} ${i.digest}\n`);
        }
      }),
    );
  image
    .command('ls')
    .description('list the images on the node')
    .option(...dataDirOpt)
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (flags: ImageFlags) =>
      withImages(flags, async (ops) => {
        const list = (await ops.list()).sort((a, b) => a.ref.localeCompare(b.ref));
        if (flags.output === 'json') return void process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        const rows = [['IMAGE', 'DIGEST', 'SIZE'], ...list.map((i) => [i.ref, i.digest.slice(0, 19), formatSize(i.sizeBytes)])];
        const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
        for (const r of rows) process.stdout.write(`${r.map((v, c) => v.padEnd(widths[c])).join('   ').trimEnd()}\n`);
      }),
    );
  image
    .command('rm <ref...>')
    .description('remove images (by reference, digest or id); layers no other image uses are freed')
    .option(...dataDirOpt)
    .action(async (refs: string[], flags: ImageFlags) =>
      withImages(flags, async (ops) => {
        for (const r of refs) {
          await ops.remove(r);
          process.stdout.write(`removed ${r}\n`);
        }
      }),
    );
}

async function withImages(flags: ImageFlags, fn: (ops: ImageOps) => Promise<void>): Promise<void> {
  if (flags.output !== undefined && flags.output !== 'table' && flags.output !== 'json') {
    throw usageError(`--output: "${flags.output}" is not table or json`);
  }
  const dataDir = flags.dataDir ?? NODE_DATA_DIR_DEFAULT;
  const ops = (await viaAgent(controlSocketPath(dataDir))) ?? (await direct(dataDir));
  try {
    await fn(ops);
  } finally {
    await ops.close();
  }
}

/** undefined when no agent answers on the socket */
async function viaAgent(socketPath: string): Promise<ImageOps | undefined> {
  // a connect is enough to know: a stale socket file refuses, a missing one is ENOENT
  const listening = await new Promise<boolean>((resolvePromise, reject) => {
    const sock = connect(socketPath, () => {
      sock.end();
      resolvePromise(true);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? resolvePromise(false) : reject(err)));
  });
  if (!listening) return undefined;
  return {
    list: async () => (await call(socketPath, 'GET', '/images')) as ImageInfo[],
    import: async (path) => (await call(socketPath, 'POST', `/images/import?path=${encodeURIComponent(path)}`)) as ImageInfo[],
    remove: async (ref) => void (await call(socketPath, 'DELETE', `/images/${encodeURIComponent(ref)}`)),
    close: async () => undefined,
  };
}

/** no agent running: open its stores ourselves (the agent is the only other writer) */
async function direct(dataDir: string): Promise<ImageOps> {
  const [{ LocalImageStore }, { OverlaySnapshotter }] = await Promise.all([import('../agent/image/index.ts'), import('../agent/snapshot/index.ts')]);
  const snapshotter = await OverlaySnapshotter.open({ root: join(dataDir, 'snapshots') });
  const store = await LocalImageStore.open({ root: join(dataDir, 'images'), snapshotter });
  const signal = new AbortController().signal;
  return {
    list: () => store.list(),
    import: (path) => store.import(path, { signal }),
    remove: (ref) => store.remove(ref),
    close: async () => undefined,
  };
}

function call(socketPath: string, method: string, path: string): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reject(new HedgeError('Internal', `${method} ${path}: the agent answered ${res.statusCode} with no JSON`));
        }
        if ((res.statusCode ?? 500) >= 400) {
          const e = body as ControlError;
          return reject(new HedgeError((e.reason as ErrorCode) ?? 'Internal', e.message ?? `the agent answered ${res.statusCode}`));
        }
        resolvePromise(body);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function formatSize(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)}MB`;
}
