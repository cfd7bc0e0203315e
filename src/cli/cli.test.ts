import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HEDGE_BIN, runHedge } from './testing/run-hedge.ts';
import { resolveNodeSettings } from './node-config.ts';
import { upNodeFlags } from './up.ts';

const execFileAsync = promisify(execFile);

const hedge = runHedge;

describe('hedge command line', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--help works on every command, exit 0', async () => {
    const top = await hedge(['--help']);
    assert.equal(top.code, 0);
    for (const c of ['server', 'node', 'up', 'token', 'image']) assert.match(top.stdout, new RegExp(`^  ${c}\\b`, 'm'));
    const server = await hedge(['server', '--help']);
    assert.equal(server.code, 0);
    for (const f of ['--data-dir', '--listen', '--store', '--advertise-host', '--log-level', '--config']) assert.ok(server.stdout.includes(f), f);
    assert.equal((await hedge(['up', '--help'])).code, 0);
    const node = await hedge(['node', '--help']);
    assert.equal(node.code, 0);
    for (const f of ['--kubeconfig', '--node-name', '--data-dir', '--listen', '--internal-ip', '--pod-subnet', '--bridge', '--insecure-registry', '--runtimes', '--log-level', '--config']) {
      assert.ok(node.stdout.includes(f), f);
    }
  });

  it('run as a program, the launcher gives `hedge node` its own V8 flags and other commands the server\'s', async () => {
    const traced = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
      execFileAsync('sh', ['-x', HEDGE_BIN, ...args]).then(
        (o) => ({ code: 0, stderr: o.stderr }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code ?? null, stderr: e.stderr ?? '' }),
      );
    const node = await traced(['node', '--help']);
    assert.equal(node.code, 0, node.stderr);
    assert.match(node.stderr, /exec node --max-semi-space-size=1 --v8-pool-size=1 --max-opt=0 \S*hedge\.js node --help/);
    const server = await traced(['server', '--help']);
    assert.equal(server.code, 0, server.stderr);
    assert.match(server.stderr, /exec node --max-semi-space-size=64 \S*hedge\.js server --help/);
    // and through its #! line, as an installed `hedge` runs
    const direct = await execFileAsync(HEDGE_BIN, ['node', '--help']);
    assert.match(direct.stdout, /--kubeconfig/);
  });

  it('hedge node: bad usage exits 2 and names the flag', async () => {
    const missing = await hedge(['node', '--data-dir', dir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--kubeconfig: required/);
    const subnet = await hedge(['node', '--kubeconfig', join(dir, 'k'), '--pod-subnet', '10.0.0.0/33']);
    assert.equal(subnet.code, 2);
    assert.match(subnet.stderr, /--pod-subnet: 10.0.0.0\/33 is not a CIDR/);
    const rt = await hedge(['node', '--kubeconfig', join(dir, 'k'), '--runtimes', 'runc,kata']);
    assert.equal(rt.code, 2);
    assert.match(rt.stderr, /--runtimes: each must be one of runc, gvisor/);
    const sink = await hedge(['node', '--kubeconfig', join(dir, 'k'), '--log-sink', 'syslog://logs:514']);
    assert.equal(sink.code, 2);
    assert.match(sink.stderr, /--log-sink: must be syslog\+tcp:\/\/, syslog\+tls:\/\//);
    const buf = await hedge(['node', '--kubeconfig', join(dir, 'k'), '--log-buffer-bytes', 'lots']);
    assert.equal(buf.code, 2);
    assert.match(buf.stderr, /--log-buffer-bytes: must be a byte count/);
    const kc = await hedge(['node', '--kubeconfig', join(dir, 'nope.kubeconfig'), '--data-dir', join(dir, 'n')]);
    assert.equal(kc.code, 1);
    assert.match(kc.stderr, /--kubeconfig .*nope\.kubeconfig: cannot read/);
  });

  it('hedge up --pod-manifest-path: its node runs the static pods of that directory, the flag over --node-config', async () => {
    const help = await hedge(['up', '--help']);
    assert.match(help.stdout, /--pod-manifest-path <dir>/);
    const settings = { dataDir: join(dir, 'up'), logLevel: 'warn' as const, clusterCidr: '10.244.0.0/16' };
    const flags = upNodeFlags(settings, { podManifestPath: 'manifests' });
    assert.equal(flags.staticPodPath, join(process.cwd(), 'manifests'));
    assert.equal(upNodeFlags(settings, {}).staticPodPath, undefined);
    // through the node's own settings: the flag wins over the --node-config file's key
    const file = join(dir, 'up-node.yaml');
    await writeFile(file, 'staticPodPath: /etc/hedge/from-file\n');
    assert.equal((await resolveNodeSettings({ flags: upNodeFlags(settings, { podManifestPath: '/srv/manifests' }), configFile: file })).staticPodPath, '/srv/manifests');
    assert.equal((await resolveNodeSettings({ flags: upNodeFlags(settings, {}), configFile: file })).staticPodPath, '/etc/hedge/from-file');
  });

  it('bad usage exits 2 and names the flag or key', async () => {
    const unknown = await hedge(['server', '--bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--bogus'/);
    const listen = await hedge(['server', '--listen', 'nowhere', '--data-dir', dir]);
    assert.equal(listen.code, 2);
    assert.match(listen.stderr, /--listen: "nowhere" is not HOST:PORT/);
    const cfg = join(dir, 'c.yaml');
    await writeFile(cfg, 'store: etc\n');
    const bad = await hedge(['server', '--config', cfg]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /config file .*c\.yaml: key "store"/);
    assert.equal((await hedge(['token', 'create-node', 'Bad_Name', '--data-dir', dir])).code, 2);
  });

  it('token create-node prints a token and stores it', async () => {
    const r = await hedge(['token', 'create-node', 'edge-1', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[A-Za-z0-9_-]{43}\n$/);
  });

  it('token create-node --kubeconfig-out writes a token kubeconfig with the CA and server URL', async () => {
    const { writeKubeconfig } = await import('../apiserver/auth/kubeconfig.ts');
    const { loadKubeconfig } = await import('../client/index.ts');
    await writeKubeconfig(join(dir, 'kubeconfig'), { server: 'https://127.0.0.1:6443', caCert: 'CA-PEM', credentials: { clientCert: 'c', clientKey: 'k' } });
    const out = join(dir, 'edge-2.kubeconfig');
    const r = await hedge(['token', 'create-node', 'edge-2', '--data-dir', dir, '--kubeconfig-out', out, '--server', 'https://10.0.0.1:6443']);
    assert.equal(r.code, 0, r.stderr);
    const conn = await loadKubeconfig(out);
    assert.equal(conn.server, 'https://10.0.0.1:6443');
    assert.equal(conn.ca, 'CA-PEM');
    assert.equal(conn.token, r.stdout.trim());
  });

  it('an invalid audit policy refuses the start, naming the flag, the rule and the field', async () => {
    const policy = join(dir, 'audit-policy.yaml');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n- level: Request\n  resources: [{group: "", resourcez: [pods]}]\n');
    const r = await hedge(['server', '--data-dir', join(dir, 'audit-data'), '--store', 'memory', '--listen', '127.0.0.1:0', '--audit-policy-file', policy, '--audit-log-path', join(dir, 'audit.log')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^hedge: --audit-policy-file .*audit-policy\.yaml: rules\[1\]\.resources\[0\]\.resourcez: unknown field/m);
  });

  it('a runtime failure exits 1 with a message', async () => {
    // a data dir below a regular file cannot be created
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    const r = await hedge(['server', '--data-dir', join(file, 'sub'), '--listen', '127.0.0.1:0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^hedge: --data-dir .*: cannot create/m);
  });
});
