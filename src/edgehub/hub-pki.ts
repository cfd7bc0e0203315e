import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface HubPki {
  ca: { cert: string; key: string };
  server: { cert: string; key: string };
  client: { cert: string; key: string };
}

/** the one user the hub's own client certificate names */
export const HUB_CLIENT_USER = 'edgehub-local';

async function readPair(dir: string, name: string): Promise<{ cert: string; key: string } | undefined> {
  try {
    return { cert: await readFile(join(dir, `${name}.crt`), 'utf8'), key: await readFile(join(dir, `${name}.key`), 'utf8') };
  } catch {
    return undefined;
  }
}

async function writePair(dir: string, name: string, pair: { cert: string; key: string }): Promise<void> {
  await writeFile(join(dir, `${name}.key`), pair.key, { mode: 0o600 });
  await writeFile(join(dir, `${name}.crt`), pair.cert, { mode: 0o600 });
}

/**
 * The hub's local PKI under `<hubDir>/pki` (0700): a hub-only CA, the serving certificate for the
 * loopback endpoint, and the one client certificate local clients use (through the kubeconfig).
 * Made once and reused, so kubeconfigs handed to local tools stay valid across restarts.
 */
export async function ensureHubPki(hubDir: string, hosts: string[]): Promise<HubPki> {
  const dir = join(hubDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const ca = await readPair(dir, 'ca');
  const server = await readPair(dir, 'server');
  const client = await readPair(dir, 'client');
  if (ca && server && client) return { ca, server, client };
  // loaded only on first start: the certificate library costs memory the node keeps otherwise
  const { generateCa, generateServingCert, generateClientCert } = await import('../apiserver/auth/pki.ts');
  const newCa = ca ?? (await generateCa('hedge-edgehub-ca'));
  const pki: HubPki = {
    ca: newCa,
    server: await generateServingCert({ ca: newCa, hosts }),
    client: await generateClientCert({ ca: newCa, commonName: HUB_CLIENT_USER }),
  };
  await writePair(dir, 'ca', pki.ca);
  await writePair(dir, 'server', pki.server);
  await writePair(dir, 'client', pki.client);
  return pki;
}
