import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinResources } from '../../api/builtin/index.ts';
import type { KubeObject } from '../../api/object.ts';
import { conflict, HedgeError } from '../../lib/errors.ts';
import type { UserInfo } from '../auth/types.ts';
import { resourceQuotaPlugin } from './resource-quota.ts';
import type { AdmissionRequest } from './types.ts';

const podDef = builtinResources().find((d) => d.group === '' && d.plural === 'pods')!;
const user: UserInfo = { username: 'u', groups: [] };

/** one stored quota with a revision, shared by several plugin instances as by several apiservers */
class QuotaCell {
  rev = 1;
  writes = 0;
  constructor(public obj: KubeObject) {}
  read(): KubeObject {
    return structuredClone({ ...this.obj, metadata: { ...this.obj.metadata, resourceVersion: String(this.rev) } });
  }
  async write(q: KubeObject): Promise<void> {
    // a yield between read and compare-and-swap lets the other writer in
    await new Promise((r) => setImmediate(r));
    if (q.metadata.resourceVersion !== String(this.rev)) throw conflict('resourcequotas', q.metadata.name ?? '', 'the object has been modified');
    this.obj = structuredClone({ ...q, metadata: { ...q.metadata, resourceVersion: undefined } });
    this.rev++;
    this.writes++;
  }
}

const req = (name: string, resources: Record<string, unknown> = {}): AdmissionRequest => ({
  operation: 'CREATE',
  def: podDef,
  subresource: '',
  namespace: 'ns',
  name,
  object: { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns' }, spec: { containers: [{ name: 'c', image: 'x', resources }] } },
  user,
  dryRun: false,
  signal: new AbortController().signal,
});

const plugin = (cell: QuotaCell) =>
  resourceQuotaPlugin({
    listQuotas: async () => [cell.read()],
    updateQuotaStatus: (q) => cell.write(q),
    exists: async () => false,
  });

const quota = (hard: Record<string, string>, used: Record<string, string>, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ResourceQuota',
  metadata: { name: 'q', namespace: 'ns' },
  spec: { hard, ...spec },
  status: { hard, used },
});

const refusal = async (p: void | Promise<void>): Promise<string> => {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HedgeError);
    return `${err.code}: ${err.message}`;
  }
  return 'admitted';
};

describe('ResourceQuota admission', () => {
  it('two apiservers, one pod of room: the resourceVersion precondition lets only one spend it', async () => {
    const cell = new QuotaCell(quota({ pods: '1' }, { pods: '0' }));
    const results = await Promise.all([refusal(plugin(cell).validate!(req('a'))), refusal(plugin(cell).validate!(req('b')))]);
    assert.equal(results.filter((r) => r === 'admitted').length, 1);
    assert.match(results.find((r) => r !== 'admitted') ?? '', /^Forbidden: pods "[ab]" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1$/);
    assert.deepEqual((cell.obj.status as { used: Record<string, string> }).used, { pods: '1' });
    assert.equal(cell.writes, 1);
  });

  it('sums compute usage in the quota\'s own names and refuses what would exceed hard, naming only the exceeded', async () => {
    const cell = new QuotaCell(quota({ 'requests.memory': '1Gi', 'limits.memory': '2Gi', pods: '10' }, { 'requests.memory': '768Mi', 'limits.memory': '0', pods: '3' }));
    const p = plugin(cell);
    assert.equal(await refusal(p.validate!(req('big', { requests: { memory: '512Mi' }, limits: { memory: '512Mi' } }))), 'Forbidden: pods "big" is forbidden: exceeded quota: q, requested: requests.memory=512Mi, used: requests.memory=768Mi, limited: requests.memory=1Gi');
    assert.equal(await refusal(p.validate!(req('ok', { requests: { memory: '256Mi' }, limits: { memory: '1Gi' } }))), 'admitted');
    assert.deepEqual((cell.obj.status as { used: Record<string, string> }).used, { 'limits.memory': '1Gi', pods: '4', 'requests.memory': '1Gi' });
  });

  it('a quota whose usage is not computed yet refuses (status unknown); a terminating-scoped quota ignores other pods', async () => {
    assert.equal(await refusal(plugin(new QuotaCell({ ...quota({ pods: '1' }, {}), status: { hard: { pods: '1' } } })).validate!(req('a'))), 'Forbidden: pods "a" is forbidden: status unknown for quota: q, resources: pods');
    const scoped = new QuotaCell(quota({ pods: '0' }, { pods: '0' }, { scopes: ['Terminating'] }));
    assert.equal(await refusal(plugin(scoped).validate!(req('long-running'))), 'admitted');
    const job = req('job');
    (job.object!.spec as { activeDeadlineSeconds?: number }).activeDeadlineSeconds = 60;
    assert.match(await refusal(plugin(scoped).validate!(job)), /exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0/);
  });

  it('gives up with the Conflict when the quota keeps changing under it, charging nothing', async () => {
    const cell = new QuotaCell(quota({ pods: '5' }, { pods: '0' }));
    const p = resourceQuotaPlugin({
      listQuotas: async () => [cell.read()],
      updateQuotaStatus: async (q) => {
        cell.rev++; // someone else wrote first, every time
        await cell.write(q);
      },
      exists: async () => false,
      maxRetries: 2,
    });
    assert.match(await refusal(p.validate!(req('a'))), /^Conflict: /);
    assert.equal(cell.writes, 0);
  });
});
