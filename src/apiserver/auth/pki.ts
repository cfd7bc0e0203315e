import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { generate as Generate } from 'selfsigned';
import { HedgeError } from '../../lib/errors.ts';

/** PEM material of the control plane, as stored under `<dataDir>/pki/`. */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  /** the SANs the serving certificate carries (DNS names and IPs) */
  serverHosts: string[];
  paths: PkiPaths;
}

export interface PkiPaths {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
}

export interface EnsurePkiOptions {
  dataDir: string;
  /** extra SANs (host names or IPs) for the serving certificate */
  hosts?: string[];
  /** for tests: pretend it is this time when judging expiry */
  now?: Date;
}

export interface ClientCertOptions {
  ca: { cert: string; key: string };
  commonName: string;
  /** become the certificate's O= entries, i.e. the user's groups */
  organizations?: string[];
  validDays?: number;
}

/** Hosts every serving certificate is valid for, whatever the caller adds. */
export const DEFAULT_SERVER_HOSTS: readonly string[] = ['127.0.0.1', '::1', 'localhost'];

const CA_DAYS = 3650;
const LEAF_DAYS = 365;
/** renew a leaf certificate when less than this is left */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
// ECDSA P-256: key generation is instant (RSA 2048 takes ~100 ms per key), and
// selfsigned needs CA and leaf keys of the same type.
const KEY = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } as const;

function pkiPaths(dir: string): PkiPaths {
  return {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'apiserver.crt'),
    serverKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
  };
}

function validity(days: number): { notBeforeDate: Date; notAfterDate: Date } {
  // backdate a little: clocks of clients and server are never exactly equal
  const notBeforeDate = new Date(Date.now() - 5 * 60 * 1000);
  return { notBeforeDate, notAfterDate: new Date(notBeforeDate.getTime() + days * 24 * 3600 * 1000) };
}

/**
 * selfsigned, loaded on first use: a node that starts with its certificates on disk never needs
 * it, and its module graph (an ASN.1/X.509 stack) would stay resident in every `hedge node`.
 */
const generate: typeof Generate = async (...args) => (await import('selfsigned')).generate(...args);

export async function generateCa(commonName = 'hedge-ca'): Promise<{ cert: string; key: string }> {
  const r = await generate([{ name: 'commonName', value: commonName }], {
    ...KEY,
    ...validity(CA_DAYS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: r.cert, key: r.private };
}

export async function generateServingCert(opts: {
  ca: { cert: string; key: string };
  hosts: string[];
  validDays?: number;
  /** default hedge-apiserver */
  commonName?: string;
}): Promise<{ cert: string; key: string }> {
  const altNames = opts.hosts.map((h) => (isIP(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h }));
  return generateLeaf([{ name: 'commonName', value: opts.commonName ?? 'hedge-apiserver' }], opts, [{ name: 'extKeyUsage', serverAuth: true }, { name: 'subjectAltName', altNames }]);
}

type LeafExtension = NonNullable<NonNullable<Parameters<typeof Generate>[1]>['extensions']>[number];

/** A leaf certificate signed by `opts.ca`: not a CA, digitalSignature, plus `usage` extensions. */
async function generateLeaf(
  attrs: { name: string; value: string }[],
  opts: { ca: { cert: string; key: string }; validDays?: number },
  usage: LeafExtension[],
): Promise<{ cert: string; key: string }> {
  const r = await generate(attrs, {
    ...KEY,
    ...validity(opts.validDays ?? LEAF_DAYS),
    ca: opts.ca,
    extensions: [{ name: 'basicConstraints', cA: false, critical: true }, { name: 'keyUsage', digitalSignature: true, critical: true }, ...usage],
  });
  return { cert: r.cert, key: r.private };
}

/** A client certificate as kube-apiserver reads it: CN = user name, each O = a group. */
export async function generateClientCert(opts: ClientCertOptions): Promise<{ cert: string; key: string }> {
  for (const v of [opts.commonName, ...(opts.organizations ?? [])]) {
    // the subject is passed to the certificate library as an RFC 4514 string
    if (!/^[A-Za-z0-9:._@-]+$/.test(v)) {
      throw new HedgeError('Invalid', `certificate subject value "${v}" has characters outside [A-Za-z0-9:._@-]`);
    }
  }
  const attrs = [
    { name: 'commonName', value: opts.commonName },
    ...(opts.organizations ?? []).map((o) => ({ name: 'organizationName', value: o })),
  ];
  return generateLeaf(attrs, opts, [{ name: 'extKeyUsage', clientAuth: true }]);
}

/** SAN entries of a certificate, normalized to bare host names / IPs. */
export function certificateHosts(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return san
    .split(', ')
    .filter((s) => s.length > 0)
    .map((s) => s.replace(/^(DNS|IP Address):/, ''))
    .map((s) => (isIP(s) === 6 ? normalizeIPv6(s) : s));
}

function normalizeIPv6(ip: string): string {
  // node prints SAN IPv6 in full form (0:0:0:0:0:0:0:1); URL gives the canonical compressed form
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

function normalizeHost(h: string): string {
  const t = h.trim().replace(/^\[(.*)\]$/, '$1');
  return isIP(t) === 6 ? normalizeIPv6(t) : t.toLowerCase();
}

function sameSet(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
}

/** True when `certPem` was signed by `caPem`, is inside its validity window with margin, and matches the key. */
function leafUsable(certPem: string, keyPem: string, caPem: string, now: Date): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return false;
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return false;
    return true;
  } catch {
    return false;
  }
}

function caUsable(certPem: string, keyPem: string, now: Date): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.ca) return false;
    if (new Date(cert.validTo).getTime() <= now.getTime()) return false;
    const pub = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return pub.equals(cert.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** write-then-rename so a crash never leaves half a PEM behind */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/**
 * Load the control plane PKI from `<dataDir>/pki/`, creating what is missing:
 * a CA, a serving certificate (SANs: 127.0.0.1, ::1, localhost + `hosts`) and an
 * admin client certificate (CN=admin, O=system:masters). Leaf certificates are
 * re-issued when the CA changed, they near expiry, or (serving) the host set changed.
 */
export async function ensurePki(opts: EnsurePkiOptions): Promise<Pki> {
  const now = opts.now ?? new Date();
  const dir = join(opts.dataDir, 'pki');
  const paths = pkiPaths(dir);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new HedgeError('Internal', `cannot create PKI directory ${dir}: ${(err as Error).message}`, { cause: err });
  }

  let caCert = await readOptional(paths.caCert);
  let caKey = await readOptional(paths.caKey);
  let caChanged = false;
  if (caCert === undefined || caKey === undefined || !caUsable(caCert, caKey, now)) {
    const ca = await generateCa();
    caCert = ca.cert;
    caKey = ca.key;
    await writeAtomic(paths.caKey, caKey, 0o600);
    await writeAtomic(paths.caCert, caCert, 0o644);
    caChanged = true;
  }
  const ca = { cert: caCert, key: caKey };

  const wantHosts = [...new Set([...DEFAULT_SERVER_HOSTS, ...(opts.hosts ?? [])].map(normalizeHost))].filter(
    (h) => h.length > 0,
  );
  let serverCert = await readOptional(paths.serverCert);
  let serverKey = await readOptional(paths.serverKey);
  if (
    caChanged ||
    serverCert === undefined ||
    serverKey === undefined ||
    !leafUsable(serverCert, serverKey, caCert, now) ||
    !sameSet(certificateHosts(serverCert), wantHosts)
  ) {
    const s = await generateServingCert({ ca, hosts: wantHosts });
    serverCert = s.cert;
    serverKey = s.key;
    await writeAtomic(paths.serverKey, serverKey, 0o600);
    await writeAtomic(paths.serverCert, serverCert, 0o644);
  }

  let adminCert = await readOptional(paths.adminCert);
  let adminKey = await readOptional(paths.adminKey);
  if (caChanged || adminCert === undefined || adminKey === undefined || !leafUsable(adminCert, adminKey, caCert, now)) {
    const a = await generateClientCert({ ca, commonName: 'admin', organizations: ['system:masters'] });
    adminCert = a.cert;
    adminKey = a.key;
    await writeAtomic(paths.adminKey, adminKey, 0o600);
    await writeAtomic(paths.adminCert, adminCert, 0o644);
  }

  return { dir, caCert, caKey, serverCert, serverKey, adminCert, adminKey, serverHosts: wantHosts, paths };
}
