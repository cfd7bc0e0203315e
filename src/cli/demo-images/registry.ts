/**
 * Runs the real Debian `docker-registry` for tests and pushes OCI layouts into it, byte for byte
 * (our own minimal push, so manifests, indexes and Docker media types reach the registry unchanged).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';

export interface RunningRegistry {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, for image references */
  host: string;
  /** the docker-registry process and its temp dir (config + blobs), which stop() removes */
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${stderr()}`);
    try {
      const res = await request(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry not ready: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startRegistry(opts: { binary?: string } = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-registry-'));
  // a port race with another process is possible but rare; retry a few times
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n');
    await writeFile(join(dir, 'config.yml'), config);
    const child = spawn(opts.binary ?? '/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const url = `http://127.0.0.1:${port}`;
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await waitReady(url, child, () => err);
      return { url, host: `127.0.0.1:${port}`, pid: child.pid ?? 0, dir, stop };
    } catch (e) {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
      await exited;
      if (attempt >= 2) {
        await rm(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

async function pushBlob(registryUrl: string, repo: string, layoutDir: string, digest: string): Promise<void> {
  const head = await request(`${registryUrl}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  await head.body.dump();
  if (head.statusCode === 200) return;
  const start = await request(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.body.dump();
  if (start.statusCode !== 202) throw new Error(`start upload ${digest}: HTTP ${start.statusCode}`);
  const location = new URL(String(start.headers.location), registryUrl);
  location.searchParams.set('digest', digest);
  const data = await readFile(join(layoutDir, 'blobs', 'sha256', digest.slice(7)));
  const put = await request(location, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  const text = await put.body.text();
  if (put.statusCode !== 201) throw new Error(`upload ${digest}: HTTP ${put.statusCode} ${text}`);
}

async function pushManifest(registryUrl: string, repo: string, layoutDir: string, desc: Desc, reference: string): Promise<void> {
  const raw = await readFile(join(layoutDir, 'blobs', 'sha256', desc.digest.slice(7)));
  const parsed = JSON.parse(raw.toString()) as { manifests?: Desc[]; config?: Desc; layers?: Desc[] };
  for (const child of parsed.manifests ?? []) await pushManifest(registryUrl, repo, layoutDir, child, child.digest);
  for (const blob of [...(parsed.config ? [parsed.config] : []), ...(parsed.layers ?? [])]) {
    await pushBlob(registryUrl, repo, layoutDir, blob.digest);
  }
  const put = await request(`${registryUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: raw,
    headers: { 'content-type': desc.mediaType },
  });
  const text = await put.body.text();
  if (put.statusCode !== 201) throw new Error(`put manifest ${repo}:${reference}: HTTP ${put.statusCode} ${text}`);
}

/** Pushes the layout entry tagged `layoutTag` to `repo:tag` (e.g. "hedge/httpd:1"); returns the manifest digest. */
export async function pushLayout(layoutDir: string, registryUrl: string, target: string, layoutTag?: string): Promise<string> {
  const colon = target.lastIndexOf(':');
  const repo = target.slice(0, colon);
  const tag = target.slice(colon + 1);
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const want = layoutTag ?? tag;
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === want);
  if (!desc) throw new Error(`no "${want}" in ${layoutDir}`);
  await pushManifest(registryUrl, repo, layoutDir, desc, tag);
  return desc.digest;
}

/** The same push through skopeo (interop check and the bench's baseline). */
export async function skopeoCopy(src: string, dest: string, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', src, dest], {
      stdio: ['ignore', 'ignore', 'pipe'],
      signal,
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`skopeo copy ${src} ${dest}: exit ${code}: ${err}`))));
  });
}
