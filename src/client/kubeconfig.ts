import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { HedgeError } from '../lib/errors.ts';
import { isPlainObject } from '../api/object.ts';

/** Everything HttpKubeClient needs to reach and authenticate to an apiserver. */
export interface ConnectionConfig {
  /** e.g. https://127.0.0.1:6443 */
  server: string;
  /** PEM; undefined = system roots */
  ca?: string;
  /** PEM client certificate + key */
  cert?: string;
  key?: string;
  token?: string;
  insecureSkipTLSVerify?: boolean;
}

const invalidConfig = (path: string, msg: string): HedgeError =>
  new HedgeError('Invalid', `kubeconfig ${path}: ${msg}`);

function named(list: unknown, name: string, field: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((e) => isPlainObject(e) && e.name === name);
  return isPlainObject(entry) && isPlainObject(entry[field]) ? entry[field] : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const b64 = (v: string): string => Buffer.from(v, 'base64').toString('utf8');

/**
 * Parse a kubeconfig document. File references (`certificate-authority`, `client-certificate`,
 * `client-key`, `tokenFile`) are resolved relative to `baseDir` like kubectl does.
 */
export async function connectionFromKubeconfig(
  text: string,
  opts: { path?: string; baseDir?: string; context?: string } = {},
): Promise<ConnectionConfig> {
  const where = opts.path ?? '(inline)';
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new HedgeError('Invalid', `kubeconfig ${where}: not YAML`, { cause: err });
  }
  if (!isPlainObject(doc)) throw invalidConfig(where, 'not a mapping');
  const ctxName = opts.context ?? str(doc['current-context']);
  if (!ctxName) throw invalidConfig(where, 'no current-context');
  const ctx = named(doc.contexts, ctxName, 'context');
  if (!ctx) throw invalidConfig(where, `context "${ctxName}" not found`);
  const cluster = named(doc.clusters, str(ctx.cluster) ?? '', 'cluster');
  if (!cluster) throw invalidConfig(where, `cluster "${String(ctx.cluster)}" not found`);
  const user = named(doc.users, str(ctx.user) ?? '', 'user') ?? {};
  const server = str(cluster.server);
  if (!server) throw invalidConfig(where, 'cluster has no server');
  const base = opts.baseDir ?? (opts.path ? dirname(opts.path) : process.cwd());
  const file = async (p: string): Promise<string> => readFile(isAbsolute(p) ? p : resolve(base, p), 'utf8');

  const pick = async (dataKey: string, fileKey: string, from: Record<string, unknown>): Promise<string | undefined> => {
    const data = str(from[dataKey]);
    if (data) return b64(data);
    const f = str(from[fileKey]);
    return f ? file(f) : undefined;
  };
  const tokenFile = str(user.tokenFile);
  return {
    server: server.replace(/\/+$/, ''),
    ca: await pick('certificate-authority-data', 'certificate-authority', cluster),
    cert: await pick('client-certificate-data', 'client-certificate', user),
    key: await pick('client-key-data', 'client-key', user),
    token: str(user.token) ?? (tokenFile ? (await file(tokenFile)).trim() : undefined),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
  };
}

export async function loadKubeconfig(path: string, context?: string): Promise<ConnectionConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new HedgeError('NotFound', `kubeconfig ${path}: cannot read`, { cause: err });
  }
  return connectionFromKubeconfig(text, { path, context });
}
