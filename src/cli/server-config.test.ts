import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, resolveServerSettings } from './server-config.ts';

/** what `hedge server` runs with when nothing is given */
const DEFAULT_SETTINGS = {
  dataDir: '/var/lib/hedge',
  listen: { host: '127.0.0.1', port: 6443 },
  store: 'sqlite',
  etcdServers: [],
  etcdCafile: undefined,
  etcdCertfile: undefined,
  etcdKeyfile: undefined,
  etcdPrefix: '',
  etcdCompactionInterval: 300,
  advertiseHost: [],
  logLevel: 'info',
  controllers: true,
  nodeMonitorGracePeriod: 40,
  defaultTolerationSeconds: 300,
  podSecurityLevel: 'baseline',
  podSecurityExemptions: { usernames: [], namespaces: [], runtimeClasses: [] },
  clusterCidr: '10.244.0.0/16',
  nodeCidrMaskSize: 24,
  nodeCidrMaskSizeIpv6: 64,
  metricResolution: 15,
  serviceClusterIpRange: '10.96.0.0/12',
  serviceNodePortRange: '30000-32767',
  encryptionProviderConfig: undefined,
  auditPolicyFile: undefined,
  auditLogPath: undefined,
  auditLogMaxage: 0,
  auditLogMaxbackup: 0,
  auditLogMaxsize: 0,
  serviceAccountMaxTokenExpiration: 0,
  serviceAccountExtendTokenExpiration: true,
  encryptionProviderConfigAutomaticReload: false,
  anonymousAuth: true,
  enablePriorityAndFairness: true,
  maxRequestsInflight: 400,
  maxMutatingRequestsInflight: 200,
};

describe('resolveServerSettings', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-cfg-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('applies defaults', async () => {
    assert.deepEqual(await resolveServerSettings({ flags: {} }), DEFAULT_SETTINGS);
  });

  it('takes etcd settings from flags (comma list) and the file (YAML list)', async () => {
    const s = await resolveServerSettings({ flags: { store: 'etcd', etcdServers: 'http://127.0.0.1:2379, https://10.0.0.2:2379', etcdCafile: '/ca.pem', etcdPrefix: '/c1', etcdCompactionInterval: '0' } });
    assert.equal(s.store, 'etcd');
    assert.deepEqual(s.etcdServers, ['http://127.0.0.1:2379', 'https://10.0.0.2:2379']);
    assert.equal(s.etcdCafile, '/ca.pem');
    assert.equal(s.etcdPrefix, '/c1');
    assert.equal(s.etcdCompactionInterval, 0);
    const f = join(dir, 'etcd.yaml');
    await writeFile(f, 'store: etcd\netcdServers:\n  - http://127.0.0.1:2379\n  - http://127.0.0.1:22379\n');
    assert.deepEqual((await resolveServerSettings({ flags: {}, configFile: f })).etcdServers, ['http://127.0.0.1:2379', 'http://127.0.0.1:22379']);
  });

  it('refuses etcd settings that cannot work, naming the flag', async () => {
    await assert.rejects(resolveServerSettings({ flags: { store: 'etcd' } }), /ConfigError: --store etcd needs --etcd-servers/);
    await assert.rejects(resolveServerSettings({ flags: { store: 'etcd', etcdServers: '127.0.0.1:2379' } }), /ConfigError: --etcd-servers: must be an etcd client URL/);
    await assert.rejects(resolveServerSettings({ flags: { store: 'etcd', etcdServers: ',' } }), /ConfigError: --etcd-servers: must name at least one/);
    await assert.rejects(resolveServerSettings({ flags: { store: 'etcd', etcdServers: 'http://a:1', etcdCertfile: '/c.pem' } }), /ConfigError: --etcd-certfile and --etcd-keyfile go together/);
    await assert.rejects(resolveServerSettings({ flags: { etcdCompactionInterval: '-1' } }), /ConfigError: --etcd-compaction-interval: /);
    await assert.rejects(resolveServerSettings({ flags: { etcdPrefix: 'nope' } }), /ConfigError: --etcd-prefix: must be empty or start with \//);
  });

  it('flags win over the file, the file over defaults', async () => {
    const f = join(dir, 'a.yaml');
    await writeFile(
      f,
      'dataDir: /srv/hedge\nlisten: "[::1]:7443"\nstore: memory\nadvertiseHost: edge.example\ncontrollers: false\nnodeMonitorGracePeriod: 5\nencryptionProviderConfig: /etc/hedge/enc.yaml\n',
    );
    const s = await resolveServerSettings({
      flags: { listen: '0.0.0.0:9443', logLevel: undefined, nodeMonitorGracePeriod: '7' },
      configFile: f,
    });
    assert.deepEqual(s, {
      ...DEFAULT_SETTINGS,
      dataDir: '/srv/hedge',
      listen: { host: '0.0.0.0', port: 9443 },
      store: 'memory',
      advertiseHost: ['edge.example'],
      controllers: false,
      nodeMonitorGracePeriod: 7,
      encryptionProviderConfig: '/etc/hedge/enc.yaml',
    });
  });

  it('service account token expiration: a Go duration cap between 1h and 2^32 s, the extension on unless =false', async () => {
    const s = await resolveServerSettings({ flags: { serviceAccountMaxTokenExpiration: '48h', serviceAccountExtendTokenExpiration: 'false' } });
    assert.equal(s.serviceAccountMaxTokenExpiration, 172800);
    assert.equal(s.serviceAccountExtendTokenExpiration, false);
    const file = join(dir, 'sa.yaml');
    await writeFile(file, 'serviceAccountMaxTokenExpiration: 2h\nserviceAccountExtendTokenExpiration: false\n');
    const f = await resolveServerSettings({ flags: {}, configFile: file });
    assert.deepEqual([f.serviceAccountMaxTokenExpiration, f.serviceAccountExtendTokenExpiration], [7200, false]);
    await assert.rejects(resolveServerSettings({ flags: { serviceAccountMaxTokenExpiration: '30m' } }), /ConfigError: --service-account-max-token-expiration: must be between 1 hour and 2\^32 seconds/);
    await assert.rejects(resolveServerSettings({ flags: { serviceAccountMaxTokenExpiration: 'soon' } }), /ConfigError: --service-account-max-token-expiration: invalid duration/);
    await assert.rejects(resolveServerSettings({ flags: { serviceAccountExtendTokenExpiration: 'maybe' } }), /ConfigError: --service-account-extend-token-expiration: /);
  });

  it('names the flag at fault', async () => {
    await assert.rejects(resolveServerSettings({ flags: { listen: 'nope' } }), (e) => e instanceof ConfigError && /^--listen: /.test(e.message));
    await assert.rejects(resolveServerSettings({ flags: { store: 'etc' } }), /ConfigError: --store: /);
    await assert.rejects(resolveServerSettings({ flags: { advertiseHost: ['bad host'] } }), /ConfigError: --advertise-host: /);
    await assert.rejects(resolveServerSettings({ flags: { nodeMonitorGracePeriod: '-3' } }), /ConfigError: --node-monitor-grace-period: /);
  });

  it('cluster CIDR and node mask size: defaults, flag, config key, validation naming the flag', async () => {
    const d = await resolveServerSettings({ flags: {} });
    assert.equal(d.clusterCidr, '10.244.0.0/16');
    assert.equal(d.nodeCidrMaskSize, 24);
    const f = await resolveServerSettings({ flags: { clusterCidr: '10.32.0.0/12', nodeCidrMaskSize: '26' } });
    assert.equal(f.clusterCidr, '10.32.0.0/12');
    assert.equal(f.nodeCidrMaskSize, 26);
    const file = join(dir, 'cidr.yaml');
    await writeFile(file, 'clusterCidr: 172.20.0.0/16\nnodeCidrMaskSize: 25\n');
    const c = await resolveServerSettings({ flags: {}, configFile: file });
    assert.equal(c.clusterCidr, '172.20.0.0/16');
    assert.equal(c.nodeCidrMaskSize, 25);
    await assert.rejects(resolveServerSettings({ flags: { clusterCidr: '10.244.0.0' } }), /ConfigError: --cluster-cidr: 10.244.0.0 is not a CIDR/);
    await assert.rejects(resolveServerSettings({ flags: { clusterCidr: 'fd00::/48' } }), /ConfigError: --cluster-cidr: the first CIDR must be IPv4 \(IPv6-only clusters are not supported\)/);
    await assert.rejects(resolveServerSettings({ flags: { nodeCidrMaskSize: '31' } }), /ConfigError: --node-cidr-mask-size: /);
    await assert.rejects(resolveServerSettings({ flags: { nodeCidrMaskSize: '12' } }), /ConfigError: --node-cidr-mask-size 12: must be at least the --cluster-cidr prefix \/16/);
    await assert.rejects(resolveServerSettings({ flags: { clusterCidr: '10.0.0.0/8', nodeCidrMaskSize: '30' } }), /ConfigError: --node-cidr-mask-size 30: more than 65536/);
  });

  it('dual-stack cluster CIDR: one per family, per-family mask sizes, clear errors', async () => {
    const d = await resolveServerSettings({ flags: { clusterCidr: '10.244.0.0/16, fd00:10:244::/56' } });
    assert.equal(d.clusterCidr, '10.244.0.0/16,fd00:10:244::/56');
    assert.deepEqual([d.nodeCidrMaskSize, d.nodeCidrMaskSizeIpv6], [24, 64]);
    const f = await resolveServerSettings({ flags: { clusterCidr: '10.244.0.0/16,FD00:10:244:0:0::1/56', nodeCidrMaskSizeIpv4: '25', nodeCidrMaskSizeIpv6: '72' } });
    assert.equal(f.clusterCidr, '10.244.0.0/16,fd00:10:244::/56', 'canonical, host bits cleared');
    assert.deepEqual([f.nodeCidrMaskSize, f.nodeCidrMaskSizeIpv6], [25, 72]);
    const file = join(dir, 'dual.yaml');
    await writeFile(file, 'clusterCidr: 10.1.0.0/16,fd01::/48\nnodeCidrMaskSizeIpv6: 64\n');
    const c = await resolveServerSettings({ flags: {}, configFile: file });
    assert.deepEqual([c.clusterCidr, c.nodeCidrMaskSize, c.nodeCidrMaskSizeIpv6], ['10.1.0.0/16,fd01::/48', 24, 64]);
    for (const [flags, re] of [
      [{ clusterCidr: '10.1.0.0/16,10.2.0.0/16' }, /--cluster-cidr: at most one IPv4 CIDR/],
      [{ clusterCidr: '10.1.0.0/16,fd00::/56,fd01::/56' }, /--cluster-cidr: at most two CIDRs/],
      [{ clusterCidr: 'fd00::/56,10.1.0.0/16' }, /--cluster-cidr: the first CIDR must be IPv4/],
      [{ clusterCidr: '10.1.0.0/16,' }, /--cluster-cidr: an empty entry/],
      [{ clusterCidr: '10.1.0.0/16,fd00::/124' }, /--cluster-cidr: fd00::\/124 must be an IPv6 CIDR between \/8 and \/120/],
      [{ clusterCidr: '10.1.0.0/16,fd00::/56', nodeCidrMaskSize: '24' }, /--node-cidr-mask-size 24: not with a dual-stack --cluster-cidr/],
      [{ nodeCidrMaskSizeIpv6: '64' }, /--node-cidr-mask-size-ipv6 64: --cluster-cidr 10.244.0.0\/16 has no IPv6 range/],
      [{ clusterCidr: '10.1.0.0/16,fd00::/56', nodeCidrMaskSizeIpv6: '48' }, /--node-cidr-mask-size-ipv6 48: must be at least the --cluster-cidr prefix \/56/],
      [{ clusterCidr: '10.1.0.0/16,fd00::/40', nodeCidrMaskSizeIpv6: '64' }, /--node-cidr-mask-size-ipv6 64: more than 65536 node ranges/],
      [{ clusterCidr: '10.1.0.0/16,fd00::/56', nodeCidrMaskSizeIpv6: '127' }, /--node-cidr-mask-size-ipv6: must be between 8 and 126/],
    ] as const) {
      await assert.rejects(resolveServerSettings({ flags }), (e: Error) => e.name === 'ConfigError' && re.test(e.message), JSON.stringify(flags));
    }
  });

  it('takes the Service ClusterIP and NodePort ranges and refuses bad ones, naming the flag', async () => {
    const f = await resolveServerSettings({ flags: { serviceClusterIpRange: '10.32.0.0/16', serviceNodePortRange: '31000-31999' } });
    assert.equal(f.serviceClusterIpRange, '10.32.0.0/16');
    assert.equal(f.serviceNodePortRange, '31000-31999');
    assert.equal((await resolveServerSettings({ flags: { serviceClusterIpRange: '10.32.0.0/16,fd00:32::/108' } })).serviceClusterIpRange, '10.32.0.0/16,fd00:32::/108');
    await assert.rejects(resolveServerSettings({ flags: { serviceClusterIpRange: 'fd00::/108' } }), /ConfigError: --service-cluster-ip-range: the first range must be IPv4/);
    await assert.rejects(resolveServerSettings({ flags: { serviceClusterIpRange: '10.32.0.0/16,fd00::/64' } }), /ConfigError: --service-cluster-ip-range: fd00::\/64: must be an IPv4 CIDR between \/8 and \/30 .* or an IPv6 CIDR between \/108 and \/124/);
    await assert.rejects(resolveServerSettings({ flags: { serviceNodePortRange: '32000-31000' } }), /ConfigError: --service-node-port-range: must be MIN-MAX/);
  });

  it('takes the --oidc-* flags together (and from the file), refusing a lone one or an http issuer', async () => {
    const s = await resolveServerSettings({
      flags: { oidcIssuerUrl: 'https://idp.example', oidcClientId: 'hedge', oidcUsernameClaim: 'email', oidcGroupsClaim: 'groups', oidcRequiredClaim: ['hd=example.com', 'x=a=b'], oidcSigningAlgs: 'RS256, ES256' },
    });
    assert.deepEqual(s.oidc, {
      issuerUrl: 'https://idp.example', clientId: 'hedge', usernameClaim: 'email', usernamePrefix: undefined, groupsClaim: 'groups', groupsPrefix: undefined,
      requiredClaims: { hd: 'example.com', x: 'a=b' }, caFile: undefined, signingAlgs: ['RS256', 'ES256'],
    });
    const f = join(dir, 'oidc.yaml');
    await writeFile(f, 'oidcIssuerUrl: https://idp.example\noidcClientId: hedge\noidcRequiredClaim: hd=example.com\noidcSigningAlgs: [ES256]\n');
    const fromFile = (await resolveServerSettings({ flags: {}, configFile: f })).oidc;
    assert.deepEqual([fromFile?.requiredClaims, fromFile?.signingAlgs], [{ hd: 'example.com' }, ['ES256']]);
    assert.equal((await resolveServerSettings({ flags: {} })).oidc, undefined);
    await assert.rejects(resolveServerSettings({ flags: { oidcClientId: 'hedge', oidcGroupsClaim: 'g' } }), /ConfigError: --oidc-client-id, --oidc-groups-claim: only with --oidc-issuer-url/);
    await assert.rejects(resolveServerSettings({ flags: { oidcIssuerUrl: 'http://idp.example', oidcClientId: 'hedge' } }), /ConfigError: --oidc-issuer-url http:\/\/idp.example: must use https/);
    await assert.rejects(resolveServerSettings({ flags: { oidcIssuerUrl: 'https://idp.example' } }), /ConfigError: --oidc-client-id: required/);
    await assert.rejects(resolveServerSettings({ flags: { oidcIssuerUrl: 'https://idp.example', oidcClientId: 'h', oidcSigningAlgs: 'HS256' } }), /--oidc-signing-algs: HS256 is not supported/);
    await assert.rejects(resolveServerSettings({ flags: { oidcIssuerUrl: 'https://idp.example', oidcClientId: 'h', oidcRequiredClaim: ['novalue'] } }), /--oidc-required-claim: .*must be claim=value/);
  });

  it('audit log settings from flags and the file\'s keys; negative numbers refused naming the flag', async () => {
    const file = join(dir, 'audit.yaml');
    await writeFile(file, 'auditPolicyFile: /etc/hedge/audit-policy.yaml\nauditLogPath: /var/log/hedge/audit.log\nauditLogMaxage: 7\nauditLogMaxbackup: 3\n');
    const s = await resolveServerSettings({ flags: { auditLogMaxsize: '50', auditLogPath: '-' }, configFile: file });
    assert.equal(s.auditPolicyFile, '/etc/hedge/audit-policy.yaml');
    assert.equal(s.auditLogPath, '-', 'the flag wins');
    assert.deepEqual([s.auditLogMaxage, s.auditLogMaxbackup, s.auditLogMaxsize], [7, 3, 50]);
    await assert.rejects(resolveServerSettings({ flags: { auditLogMaxbackup: '-1' } }), (err: Error) => err instanceof ConfigError && /--audit-log-maxbackup.*can't be a negative number/.test(err.message));
  });

  it('--anonymous-auth=false; --encryption-provider-config-automatic-reload needs the config file, as upstream', async () => {
    assert.equal((await resolveServerSettings({ flags: { anonymousAuth: 'false' } })).anonymousAuth, false);
    const file = join(dir, 'reload.yaml');
    await writeFile(file, 'encryptionProviderConfig: /etc/hedge/enc.yaml\nencryptionProviderConfigAutomaticReload: true\n');
    const s = await resolveServerSettings({ flags: {}, configFile: file });
    assert.deepEqual([s.encryptionProviderConfig, s.encryptionProviderConfigAutomaticReload], ['/etc/hedge/enc.yaml', true]);
    await assert.rejects(
      resolveServerSettings({ flags: { encryptionProviderConfigAutomaticReload: true } }),
      (err: Error) => err instanceof ConfigError && err.message === '--encryption-provider-config-automatic-reload must be set with --encryption-provider-config',
    );
    await assert.rejects(resolveServerSettings({ flags: { anonymousAuth: 'maybe' } }), (err: Error) => err instanceof ConfigError && /--anonymous-auth/.test(err.message));
  });

  it('flow control: --enable-priority-and-fairness=false and the in-flight limits from flags and the file', async () => {
    const file = join(dir, 'apf.yaml');
    await writeFile(file, 'enablePriorityAndFairness: false\nmaxRequestsInflight: 100\n');
    const s = await resolveServerSettings({ flags: { maxMutatingRequestsInflight: '50' }, configFile: file });
    assert.deepEqual([s.enablePriorityAndFairness, s.maxRequestsInflight, s.maxMutatingRequestsInflight], [false, 100, 50]);
    const on = await resolveServerSettings({ flags: { enablePriorityAndFairness: true }, configFile: file });
    assert.equal(on.enablePriorityAndFairness, true, 'the flag alone wins over the file');
    assert.equal((await resolveServerSettings({ flags: { enablePriorityAndFairness: 'false' } })).enablePriorityAndFairness, false);
    await assert.rejects(resolveServerSettings({ flags: { enablePriorityAndFairness: 'maybe' } }), (err: Error) => err instanceof ConfigError && /--enable-priority-and-fairness.*must be true or false/.test(err.message));
    await assert.rejects(resolveServerSettings({ flags: { maxRequestsInflight: '-1' } }), (err: Error) => err instanceof ConfigError && /--max-requests-inflight.*negative/.test(err.message));
  });

  it('names the file and key at fault', async () => {
    const f = join(dir, 'b.yaml');
    await writeFile(f, 'store: etc\n');
    await assert.rejects(resolveServerSettings({ flags: {}, configFile: f }), new RegExp(`config file ${f}: key "store": `));
    await writeFile(f, 'stor: sqlite\n');
    await assert.rejects(resolveServerSettings({ flags: {}, configFile: f }), /unknown key\(s\) "stor"/);
    await writeFile(f, 'a: [\n');
    await assert.rejects(resolveServerSettings({ flags: {}, configFile: f }), /not valid YAML/);
    await assert.rejects(resolveServerSettings({ flags: {}, configFile: join(dir, 'missing.yaml') }), /ConfigError: --config .*missing\.yaml: ENOENT/);
  });

  it('--audit-webhook-*: upstream defaults, flags and file keys, and upstream\'s checks naming the flag', async () => {
    assert.equal((await resolveServerSettings({ flags: { auditWebhookMode: 'nonsense' } })).auditWebhook, undefined, 'unused without a config file');
    const d = await resolveServerSettings({ flags: { auditWebhookConfigFile: '/etc/hedge/wh.kubeconfig' } });
    assert.deepEqual(d.auditWebhook, {
      configFile: '/etc/hedge/wh.kubeconfig',
      mode: 'batch',
      batch: { bufferSize: 10000, maxBatchSize: 400, maxBatchWaitMs: 30000, throttle: { qps: 10, burst: 15 } },
      initialBackoffMs: 10000,
      version: 'audit.k8s.io/v1',
    });
    const file = join(dir, 'audit-webhook.yaml');
    await writeFile(file, 'auditWebhookConfigFile: /k\nauditWebhookMode: blocking\nauditWebhookBatchMaxWait: 1m30s\nauditWebhookTruncateEnabled: true\nauditWebhookTruncateMaxEventSize: 2048\n');
    const f = await resolveServerSettings({ flags: { auditWebhookInitialBackoff: '500ms', auditWebhookBatchThrottleEnable: 'false' }, configFile: file });
    assert.equal(f.auditWebhook?.mode, 'blocking');
    assert.equal(f.auditWebhook?.batch.maxBatchWaitMs, 90_000);
    assert.equal(f.auditWebhook?.batch.throttle, undefined);
    assert.equal(f.auditWebhook?.initialBackoffMs, 500);
    assert.deepEqual(f.auditWebhook?.truncate, { maxEventSize: 2048, maxBatchSize: 10 * 1024 * 1024 });
    const bad = async (flags: Record<string, string>, msg: string) =>
      assert.rejects(resolveServerSettings({ flags: { auditWebhookConfigFile: '/k', ...flags } }), (e) => e instanceof ConfigError && e.message === msg);
    await bad({ auditWebhookMode: 'async' }, '--audit-webhook-mode async: invalid audit webhook mode async, allowed modes are "batch,blocking,blocking-strict"');
    await bad({ auditWebhookBatchBufferSize: '0' }, '--audit-webhook-batch-buffer-size 0: invalid audit batch webhook buffer size 0, must be a positive number');
    await bad({ auditWebhookBatchMaxSize: '-1' }, '--audit-webhook-batch-max-size -1: invalid audit batch webhook max batch size -1, must be a positive number');
    await bad({ auditWebhookBatchThrottleQps: '0' }, '--audit-webhook-batch-throttle-qps 0: invalid audit batch webhook throttle QPS 0, must be a positive number');
    await bad({ auditWebhookBatchMaxWait: '30' }, '--audit-webhook-batch-max-wait: invalid duration "30": want a Go duration such as 30s, 1m30s or 500ms');
    await bad({ auditWebhookBatchMaxSize: 'x' }, '--audit-webhook-batch-max-size: Invalid input: expected number, received NaN');
    await bad({ auditWebhookVersion: 'audit.k8s.io/v1beta1' }, '--audit-webhook-version audit.k8s.io/v1beta1: invalid group version, allowed versions are ["audit.k8s.io/v1"]');
    await bad(
      { auditWebhookTruncateEnabled: 'true', auditWebhookTruncateMaxBatchSize: '10', auditWebhookTruncateMaxEventSize: '100' },
      '--audit-webhook-truncate-max-batch-size 10: invalid audit truncate webhook max batch size 10, must be greater than or equal to max event size (100)',
    );
    // the batch options are not checked outside batch mode, as upstream
    assert.equal((await resolveServerSettings({ flags: { auditWebhookConfigFile: '/k', auditWebhookMode: 'blocking-strict', auditWebhookBatchBufferSize: '0' } })).auditWebhook?.mode, 'blocking-strict');
  });
});
