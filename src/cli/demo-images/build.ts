/**
 * Builds the test images without Docker: OCI image layouts (OCI and Docker schema2 media types,
 * a multi-arch index, a multi-layer image with whiteouts and opaque dirs) and a docker-archive tar.
 * Run directly (`node --import tsx test/fixtures/images/build.ts OUTDIR`) or call `buildTestImages`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarEntry } from './tar-writer.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export const BUSYBOX_APPLETS = [
  'sh', 'ls', 'cat', 'sleep', 'httpd', 'wget', 'echo', 'env', 'true', 'false', 'id', 'ps', 'mkdir', 'rm',
  'touch', 'hostname', 'nc', 'grep', 'head', 'tail', 'wc', 'stat', 'test', 'kill', 'date', 'uname', 'printf', 'mount',
];

export interface BuiltImage {
  /** tag inside the OCI layout (org.opencontainers.image.ref.name) */
  tag: string;
  manifestDigest: string;
  manifestMediaType: string;
  configDigest: string;
  /** compressed layer digests, bottom first */
  layers: string[];
  diffIds: string[];
}

export interface TestImages {
  /** one OCI layout holding every tag below */
  layoutDir: string;
  /** docker-archive (`docker save` format) of busybox, tagged `hedge/busybox:latest` */
  dockerArchive: string;
  busybox: BuiltImage;
  httpd: BuiltImage;
  /** busybox base + a layer of files + a layer of whiteouts / opaque dir */
  layered: BuiltImage;
  /** httpd with Docker schema2 media types */
  httpdDocker: BuiltImage;
  /** OCI index: linux/arm64 (first, a decoy) and linux/amd64 (= busybox) */
  multiarch: { tag: string; indexDigest: string; amd64: BuiltImage };
}

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

class LayoutWriter {
  readonly manifests: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[] = [];
  constructor(readonly dir: string) {}

  async blob(data: Buffer | string): Promise<{ digest: string; size: number }> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = sha256(buf);
    const path = join(this.dir, 'blobs', 'sha256', digest.slice(7));
    if (!existsSync(path)) await writeFile(path, buf);
    return { digest, size: buf.length };
  }

  async image(opts: {
    tag?: string;
    docker?: boolean;
    layers: Buffer[];
    config: Record<string, unknown>;
    architecture?: string;
  }): Promise<BuiltImage> {
    const diffIds = opts.layers.map((l) => sha256(l));
    const gz = opts.layers.map((l) => gzipSync(l));
    const layerDescs = [];
    for (const g of gz) {
      const b = await this.blob(g);
      layerDescs.push({ mediaType: opts.docker ? DOCKER_LAYER_GZIP : OCI_LAYER_GZIP, ...b });
    }
    const config = JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: opts.architecture ?? 'amd64',
      os: 'linux',
      config: opts.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: opts.layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'hedge test fixture' })),
    });
    const cfg = await this.blob(config);
    const manifestMediaType = opts.docker ? DOCKER_MANIFEST : OCI_MANIFEST;
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: { mediaType: opts.docker ? DOCKER_CONFIG : OCI_CONFIG, ...cfg },
      layers: layerDescs,
    });
    const m = await this.blob(manifest);
    if (opts.tag) this.manifests.push({ mediaType: manifestMediaType, ...m, annotations: { 'org.opencontainers.image.ref.name': opts.tag } });
    return {
      tag: opts.tag ?? '',
      manifestDigest: m.digest,
      manifestMediaType,
      configDigest: cfg.digest,
      layers: layerDescs.map((l) => l.digest),
      diffIds,
    };
  }

  async finish(): Promise<void> {
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.manifests }));
  }
}

function busyboxLayer(busybox: Buffer): Buffer {
  const entries: TarEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    ...BUSYBOX_APPLETS.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' },
    { type: 'file', path: 'etc/group', data: 'root:x:0:\nnogroup:x:65534:\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'proc', mode: 0o555 },
    { type: 'dir', path: 'sys', mode: 0o555 },
    { type: 'dir', path: 'dev' },
  ];
  return writeTar(entries);
}

const baseEnv = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

export async function buildTestImages(dir: string, opts: { busyboxPath?: string } = {}): Promise<TestImages> {
  const layoutDir = join(dir, 'oci');
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const busybox = await readFile(opts.busyboxPath ?? '/bin/busybox');
  const w = new LayoutWriter(layoutDir);

  const base = busyboxLayer(busybox);
  const www = writeTar([
    { type: 'dir', path: 'www' },
    { type: 'file', path: 'www/index.html', data: '<h1>hello from hedge</h1>\n' },
  ]);
  const files = writeTar([
    { type: 'dir', path: 'data' },
    { type: 'file', path: 'data/a.txt', data: 'a\n' },
    { type: 'file', path: 'data/b.txt', data: 'b\n' },
    { type: 'hardlink', path: 'data/hl', target: 'data/a.txt' },
    { type: 'symlink', path: 'data/link', target: 'a.txt' },
    { type: 'file', path: 'data/script.sh', data: '#!/bin/sh\necho hi\n', mode: 0o4750, uid: 1000, gid: 1001 },
    { type: 'dir', path: 'opq', mode: 0o750 },
    { type: 'file', path: 'opq/x.txt', data: 'x\n' },
    { type: 'dir', path: 'opq/sub' },
    { type: 'file', path: 'opq/sub/y.txt', data: 'y\n' },
  ]);
  const whiteouts = writeTar([
    { type: 'dir', path: 'data' },
    { type: 'file', path: 'data/.wh.b.txt', data: '' },
    { type: 'file', path: 'data/c.txt', data: 'c\n' },
    { type: 'dir', path: 'opq', mode: 0o750 },
    { type: 'file', path: 'opq/.wh..wh..opq', data: '' },
    { type: 'file', path: 'opq/z.txt', data: 'z\n' },
  ]);

  const busyboxImg = await w.image({ tag: 'busybox', layers: [base], config: { Env: baseEnv, Cmd: ['sh'] } });
  const httpdConfig = { Env: baseEnv, Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/www' };
  const httpd = await w.image({ tag: 'httpd', layers: [base, www], config: httpdConfig });
  const layered = await w.image({ tag: 'layered', layers: [base, files, whiteouts], config: { Env: baseEnv, Cmd: ['sh'] } });
  const httpdDocker = await w.image({ tag: 'httpd-docker', docker: true, layers: [base, www], config: httpdConfig });

  const arm = await w.image({ layers: [base], config: { Env: baseEnv, Cmd: ['sh'] }, architecture: 'arm64' });
  const amd = busyboxImg;
  const sizeOf = async (d: string): Promise<number> => (await readFile(join(layoutDir, 'blobs', 'sha256', d.slice(7)))).length;
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: arm.manifestDigest, size: await sizeOf(arm.manifestDigest), platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      { mediaType: OCI_MANIFEST, digest: amd.manifestDigest, size: await sizeOf(amd.manifestDigest), platform: { architecture: 'amd64', os: 'linux' } },
    ],
  });
  const idx = await w.blob(index);
  w.manifests.push({ mediaType: OCI_INDEX, ...idx, annotations: { 'org.opencontainers.image.ref.name': 'multiarch' } });
  await w.finish();

  // docker-archive: uncompressed layers named by diff id, config as <hex>.json
  const cfgBytes = await readFile(join(layoutDir, 'blobs', 'sha256', busyboxImg.configDigest.slice(7)));
  const archiveEntries: TarEntry[] = [
    { type: 'file', path: `${busyboxImg.configDigest.slice(7)}.json`, data: cfgBytes },
    { type: 'dir', path: busyboxImg.diffIds[0].slice(7) },
    { type: 'file', path: `${busyboxImg.diffIds[0].slice(7)}/layer.tar`, data: base },
    {
      type: 'file',
      path: 'manifest.json',
      data: JSON.stringify([
        { Config: `${busyboxImg.configDigest.slice(7)}.json`, RepoTags: ['hedge/busybox:latest'], Layers: [`${busyboxImg.diffIds[0].slice(7)}/layer.tar`] },
      ]),
    },
  ];
  const dockerArchive = join(dir, 'busybox.docker.tar');
  await writeFile(dockerArchive, writeTar(archiveEntries));

  return {
    layoutDir,
    dockerArchive,
    busybox: busyboxImg,
    httpd,
    layered,
    httpdDocker,
    multiarch: { tag: 'multiarch', indexDigest: idx.digest, amd64: amd },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: build.ts OUTDIR\n');
    process.exit(2);
  }
  const built = await buildTestImages(out);
  process.stdout.write(`${JSON.stringify(built, null, 2)}\n`);
}
