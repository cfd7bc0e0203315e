import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCa, generateServingCert } from '../auth/pki.ts';
import { writeKubeconfig } from '../auth/kubeconfig.ts';
import { startTestServer, testToken, type TestServer } from './test-server.ts';

/** the installed kubectl, if any (tests skip without it) */
export const kubectlPath = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

export interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The in-process apiserver over TLS with a throwaway CA (kubectl never sends a bearer token over
 * plain HTTP) and a kubeconfig for the admin token, plus a kubectl runner using it.
 */
export interface KubectlServer {
  t: TestServer;
  caCert: string;
  dir: string;
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlRun>;
  close(): Promise<void>;
}

export async function startKubectlServer(prefix: string): Promise<KubectlServer> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const ca = await generateCa();
  const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
  const t = await startTestServer({ tls: { cert: serving.cert, key: serving.key, clientCa: ca.cert } });
  const kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, { server: t.url, caCert: ca.cert, credentials: { token: testToken } });
  return {
    t,
    caCert: ca.cert,
    dir,
    kubectl: (args, opts = {}) =>
      new Promise((resolve) => {
        const child = execFile(
          kubectlPath ?? 'kubectl',
          ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), '--namespace', 'default', ...args],
          { timeout: opts.timeoutMs ?? 20_000, env: { PATH: process.env.PATH ?? '', HOME: dir } },
          (err, stdout, stderr) => {
            const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? Number(err.code) : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
        if (opts.input !== undefined) child.stdin?.end(opts.input);
      }),
    async close() {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
