import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  /** e.g. https://127.0.0.1:6443 */
  server: string;
  /** PEM of the CA that signed the serving certificate */
  caCert: string;
  /** client certificate + key (PEM), or a bearer token */
  credentials: { clientCert: string; clientKey: string } | { token: string };
  /** cluster, user and context are all named this (default `hedge`) */
  name?: string;
  user?: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The kubeconfig document (credentials embedded as data, so the file stands alone). */
export function renderKubeconfig(opts: KubeconfigOptions): string {
  const name = opts.name ?? 'hedge';
  const userName = opts.user ?? `${name}-admin`;
  const user =
    'token' in opts.credentials
      ? { token: opts.credentials.token }
      : {
          'client-certificate-data': b64(opts.credentials.clientCert),
          'client-key-data': b64(opts.credentials.clientKey),
        };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: opts.server, 'certificate-authority-data': b64(opts.caCert) } }],
    users: [{ name: userName, user }],
    contexts: [{ name, context: { cluster: name, user: userName } }],
    'current-context': name,
    preferences: {},
  });
}

/** Write the kubeconfig at `path` (mode 0600: it holds a private key), atomically. */
export async function writeKubeconfig(path: string, opts: KubeconfigOptions): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, renderKubeconfig(opts), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
