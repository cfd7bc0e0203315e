import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPod, parseVersion, versionLabel, type PolicyVersion } from './checks.ts';

const v = (s: string): PolicyVersion => parseVersion(s).version;
const reasons = (pod: object, level: 'baseline' | 'restricted', version: string): string[] => checkPod(pod, level, v(version)).map((x) => x.reason);
const pod = (spec: object, sc: object = {}, annotations?: Record<string, string>): object => ({ metadata: { annotations }, spec: { containers: [{ name: 'c', image: 'x', securityContext: sc }], ...spec } });
/** passes restricted at every version */
const restrictedSc = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };

describe('Pod Security policy versions', () => {
  it('parses versions as upstream: "", latest, v1.N; anything else is an error evaluated as latest', () => {
    assert.deepEqual(parseVersion(undefined), { version: 'latest' });
    assert.deepEqual(parseVersion(''), { version: 'latest' });
    assert.deepEqual(parseVersion('latest'), { version: 'latest' });
    assert.deepEqual(parseVersion('v1.24'), { version: { minor: 24, label: 'v1.24' } });
    assert.deepEqual(parseVersion('v1.0'), { version: { minor: 0, label: 'v1.0' } });
    for (const bad of ['1.24', 'v1.024', 'v2.0', 'v1.24.1', 'v1.', 'Latest', 'v1.999999999999999999999']) {
      const p = parseVersion(bad);
      assert.equal(p.version, 'latest', bad);
      assert.match(p.error ?? '', /must be "latest" or "v1.x"/, bad);
    }
    assert.equal(versionLabel(v('v1.24')), 'v1.24');
    assert.equal(versionLabel('latest'), 'latest');
  });

  it('baseline sysctls: allowed from the version that added them (v1.27, v1.29), refused before', () => {
    const p = (name: string): object => pod({ securityContext: { sysctls: [{ name, value: '1' }] } });
    assert.deepEqual(reasons(p('net.ipv4.tcp_keepalive_time'), 'baseline', 'latest'), []);
    assert.deepEqual(reasons(p('net.ipv4.tcp_keepalive_time'), 'baseline', 'v1.29'), []);
    assert.deepEqual(reasons(p('net.ipv4.tcp_keepalive_time'), 'baseline', 'v1.24'), ['forbidden sysctls']);
    assert.deepEqual(reasons(p('net.ipv4.ip_local_reserved_ports'), 'baseline', 'v1.27'), []);
    assert.deepEqual(reasons(p('net.ipv4.ip_local_reserved_ports'), 'baseline', 'v1.26'), ['forbidden sysctls']);
    assert.deepEqual(reasons(p('net.ipv4.ping_group_range'), 'baseline', 'v1.0'), []);
    assert.deepEqual(reasons(p('kernel.msgmax'), 'baseline', 'latest'), ['forbidden sysctls']);
  });

  it('baseline SELinux container_engine_t from v1.31; AppArmor fields from v1.30; seccomp fields from v1.19, annotations before', () => {
    const se = pod({}, { seLinuxOptions: { type: 'container_engine_t' } });
    assert.deepEqual(reasons(se, 'baseline', 'latest'), []);
    assert.deepEqual(reasons(se, 'baseline', 'v1.30'), ['seLinuxOptions']);
    const aa = pod({}, { appArmorProfile: { type: 'Unconfined' } });
    assert.deepEqual(reasons(aa, 'baseline', 'v1.30'), ['forbidden AppArmor profile']);
    assert.deepEqual(reasons(aa, 'baseline', 'v1.29'), []);
    const seccompField = pod({}, { seccompProfile: { type: 'Unconfined' } });
    assert.deepEqual(reasons(seccompField, 'baseline', 'v1.19'), ['seccompProfile']);
    assert.deepEqual(reasons(seccompField, 'baseline', 'v1.18'), []);
    const seccompAnn = pod({}, {}, { 'seccomp.security.alpha.kubernetes.io/pod': 'unconfined' });
    assert.deepEqual(reasons(seccompAnn, 'baseline', 'v1.18'), ['seccompProfile']);
    assert.deepEqual(reasons(seccompAnn, 'baseline', 'latest'), []);
  });

  it('restricted: runAsUser=0 from v1.23, capabilities from v1.22, seccomp from v1.19, allowPrivilegeEscalation from v1.8', () => {
    const root = pod({ securityContext: { runAsUser: 0 } }, restrictedSc);
    assert.deepEqual(reasons(root, 'restricted', 'latest'), ['runAsUser=0']);
    assert.deepEqual(reasons(root, 'restricted', 'v1.23'), ['runAsUser=0']);
    assert.deepEqual(reasons(root, 'restricted', 'v1.22'), []);
    const caps = pod({}, { ...restrictedSc, capabilities: { add: ['CHOWN'] } });
    assert.deepEqual(reasons(caps, 'restricted', 'v1.22'), ['unrestricted capabilities']);
    assert.deepEqual(reasons(caps, 'restricted', 'v1.21'), []);
    const noSeccomp = pod({}, { ...restrictedSc, seccompProfile: undefined });
    assert.deepEqual(reasons(noSeccomp, 'restricted', 'v1.19'), ['seccompProfile']);
    assert.deepEqual(reasons(noSeccomp, 'restricted', 'v1.18'), []);
    const esc = pod({}, { ...restrictedSc, allowPrivilegeEscalation: true });
    assert.deepEqual(reasons(esc, 'restricted', 'v1.8'), ['allowPrivilegeEscalation != false']);
    assert.deepEqual(reasons(esc, 'restricted', 'v1.7'), []);
    // what every version checks: privileged, hostPath, runAsNonRoot
    const priv = pod({ volumes: [{ name: 'h', hostPath: { path: '/' } }] }, { ...restrictedSc, privileged: true, runAsNonRoot: false });
    assert.deepEqual(reasons(priv, 'restricted', 'v1.0'), ['privileged', 'hostPath volumes', 'restricted volume types', 'runAsNonRoot != true']);
  });

  it('a version past the newest known evaluates as latest', () => {
    const root = pod({ securityContext: { runAsUser: 0 } }, restrictedSc);
    assert.deepEqual(reasons(root, 'restricted', 'v1.99'), reasons(root, 'restricted', 'latest'));
  });
});
