/**
 * Issue 15's end-to-end check: an image like the ones users run (Debian minbase + nginx-light,
 * built from Debian packages with mmdebstrap and packed by umoci as two layers, see
 * test/fixtures/images/debian-image.ts), pushed to a real docker-registry, run by a real
 * `hedge server` + `hedge node` under runc, gVisor and a microVM. Each pod serves the second
 * layer's page on its pod IP with nginx workers running as www-data; inside the container the
 * deleted stock page stays deleted, ping keeps its file capability, su its setuid bit, the
 * absolute symlink and the hard links are intact.
 * Skips (with the reason) without root, the runtimes, kubectl, mmdebstrap/umoci or a mirror
 * mmdebstrap can reach; the microVM pod also needs a guest kernel and a C compiler (as
 * microvm.test.ts). The built image is cached in /var/cache/hedge-test.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { DEBIAN_DELETED_FILE, DEBIAN_INDEX_PAGE, ensureDebianImage } from '../fixtures/images/debian-image.ts';
import { pushLayout, startRegistry, type RunningRegistry } from '../fixtures/images/registry.ts';
import { findKubectl, REPO_ROOT, run, startHedgeServer, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason, startHedgeNode, type HedgeNode } from './node-harness.ts';
import { fetchText, waitUntil } from './pod-checks.ts';

const execFileP = promisify(execFile);

const NEEDED = [
  '/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local',
  '/bin/busybox', '/usr/bin/nsenter',
];

let skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');
// built (or found in the cache) before the tests so the build time does not count against them
const image = skip ? undefined : await ensureDebianImage();
if (image && !image.ok) skip = `the Debian test image could not be built: ${image.reason}`;
if (skip) process.stdout.write(`# real-image e2e skipped: ${skip}\n`);
const mvmSkip = skip ?? microvmSkipReason();

/** qemu processes whose command line points into `dir` */
async function qemuPids(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const argv = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.includes('qemu-system') && argv.some((a) => a.includes(dir))) out.push(Number(d));
  }
  return out;
}

describe('a real Debian + nginx image under runc, gVisor and a microVM', { skip, timeout: 900_000 }, () => {
  let server: HedgeServer;
  let node: HedgeNode;
  let registry: RunningRegistry;
  let tmp: string;
  let ref = '';
  const nodeName = `e2e-real-${process.pid}`;

  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };
  const kubectl = async (args: string[]): Promise<string> => {
    const r = await server.kubectl(args, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    assert.ok(image?.ok);
    tmp = await mkdtemp(join(tmpdir(), 'hedge-real-image-e2e-'));
    registry = await startRegistry();
    await pushLayout(image.layoutDir, registry.url, 'hedge/debian-nginx:1', image.tag);
    ref = `${registry.host}/hedge/debian-nginx:1`;
    server = await startHedgeServer();
    const kubeconfig = join(tmp, 'node.kubeconfig');
    const tok = await run(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'token', 'create-node', nodeName, '--data-dir', server.dataDir, '--kubeconfig-out', kubeconfig]);
    assert.equal(tok.code, 0, tok.stderr);
    const config = join(tmp, 'node.yaml');
    await writeFile(config, `guestDir: ${join(tmpdir(), 'hedge-guest-cache')}\nmicrovmAccelerator: auto\n`);
    node = await startHedgeNode({ kubeconfig, nodeName, runtimes: mvmSkip ? ['runc', 'gvisor'] : ['runc', 'gvisor', 'microvm'], extraArgs: ['--config', config] });
    await waitUntil('node Ready', 60_000, async () => {
      const r = await server.api('GET', `/api/v1/nodes/${nodeName}`);
      const conds = (r.body as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
      return conds.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    }, () => node.output().slice(-3000));
  });

  after(async () => {
    try {
      if (server && node?.running()) await server.kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=60s'], { timeoutMs: 65_000 });
    } catch {
      // the manual cleanup below
    }
    if (node) for (const pid of await qemuPids(node.dataDir)) process.kill(pid, 'SIGKILL');
    await node?.cleanup();
    await server?.stop();
    await server?.cleanup();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const cases: { runtime: string; skip: string | undefined; timeoutMs: number }[] = [
    { runtime: 'runc', skip: undefined, timeoutMs: 180_000 },
    { runtime: 'gvisor', skip: undefined, timeoutMs: 180_000 },
    // TCG: the guest boots, then nginx starts slowly; the readiness probe says when it listens
    { runtime: 'microvm', skip: mvmSkip, timeoutMs: 300_000 },
  ];
  for (const c of cases) {
    it(`${c.runtime}: serves the page from its pod IP; whiteout, capability, setuid, symlinks and hard links hold`, { skip: c.skip }, async () => {
      const name = `nginx-${c.runtime}`;
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          runtimeClassName: c.runtime,
          terminationGracePeriodSeconds: 2,
          containers: [{
            name: 'nginx',
            image: ref,
            ports: [{ containerPort: 80 }],
            readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1 },
            ...(c.runtime === 'microvm' ? { resources: { limits: { memory: '128Mi' } } } : {}),
          }],
        },
      };
      const r = await server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
      assert.equal(r.code, 0, r.stderr);
      let last: Pod | undefined;
      const running = await waitUntil(`${name} Running and Ready`, c.timeoutMs, async () => {
        const p = (last = await getPod(name));
        return p?.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready ? p : undefined;
      }, () => `pod status: ${JSON.stringify(last?.status)}\nnode output:\n${node.output().slice(-3000)}`);
      const body = await fetchText(running.status!.podIP!, { port: 80, timeoutMs: 20_000 });
      assert.equal(body, DEBIAN_INDEX_PAGE);
      const exec = (cmd: string): Promise<string> => kubectl(['exec', name, '--', 'sh', '-c', cmd]);
      const checks: Record<string, string> = {
        deleted: `test -e ${DEBIAN_DELETED_FILE} && echo present || echo deleted`,
        cap: 'getcap /usr/bin/ping',
        // test(1) of dash, not coreutils stat: Debian's runsc (2022-12) answers the statx flags
        // of coreutils 9 with EINVAL
        su: 'test -u /usr/bin/su && test -O /usr/bin/su && echo setuid-root || echo plain',
        link: 'readlink /etc/nginx/sites-enabled/default',
        hardlink: 'test /usr/bin/perl -ef /usr/bin/perl5.36.0 && echo same || echo different',
        // the nginx processes' real uids: the master stays root, the workers drop to www-data
        uids: 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = nginx ] && grep "^Uid:" $p/status; done | cut -f2 | sort -u | tr "\\n" " "',
      };
      const out = await exec(Object.entries(checks).map(([k, cmd]) => `echo "${k}=$(${cmd})"`).join('; '));
      const got = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
      assert.equal(got.deleted, 'deleted', `the second layer deleted the stock page:\n${out}`);
      if (c.runtime === 'gvisor') {
        // runsc (Debian 2022-12) does not pass security.* xattrs through its gofer, so getcap
        // inside sees none; the rootfs it serves from has the capability
        assert.match(got.cap ?? '', /^(\/usr\/bin\/ping cap_net_raw[=+]ep)?$/);
        const { stdout } = await execFileP('sh', ['-c', `getcap $(find ${node.dataDir} -path '*/usr/bin/ping' -type f)`]);
        assert.match(stdout, /\/usr\/bin\/ping cap_net_raw[=+]ep/, 'the unpacked layer on the node has the capability');
      } else {
        assert.equal(got.cap, '/usr/bin/ping cap_net_raw=ep', `ping keeps its file capability:\n${out}`);
      }
      assert.equal(got.su, 'setuid-root', `su keeps its setuid bit:\n${out}`);
      assert.equal(got.link, '/etc/nginx/sites-available/default', `the absolute symlink is stored as written:\n${out}`);
      assert.equal(got.hardlink, 'same', `perl and perl5.36.0 are one inode:\n${out}`);
      assert.equal(got.uids, '0 33', `nginx master as root, workers as www-data:\n${out}`);
      await kubectl(['delete', 'pod', name, '--wait=true', '--timeout=90s']);
    });
  }
});
