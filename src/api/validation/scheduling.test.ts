import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { defaultPod } from '../defaults/pod.ts';
import { validatePod } from './pod.ts';

function pod(extra: Record<string, unknown>): KubeObject {
  const p: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'nginx' }], ...extra } };
  defaultPod(p);
  return p;
}
const causes = (extra: Record<string, unknown>): string[] => validatePod(pod(extra)).map((c) => `${c.field}: ${c.message}`);

test('valid affinity and spread constraints pass', () => {
  assert.deepEqual(
    causes({
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'cores', operator: 'Gt', values: ['4'] }] }] },
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] } }],
        },
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname', matchLabelKeys: ['rev'] }],
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: { labelSelector: {}, namespaceSelector: {}, topologyKey: 'zone' } }],
        },
      },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', minDomains: 3, labelSelector: { matchLabels: { app: 'db' } }, matchLabelKeys: ['rev'], nodeTaintsPolicy: 'Honor' },
        { maxSkew: 2, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway' },
      ],
    }),
    [],
  );
});

test('bad affinity: each problem named with its field', () => {
  const got = causes({
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In' }, { key: 'c', operator: 'Gt', values: ['x'] }, { key: 'k', operator: 'Near' }] }] },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: { matchFields: [{ key: 'metadata.uid', operator: 'In', values: ['u'] }] } }],
      },
      podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'x' } }, topologyKey: '' }] },
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 101, podAffinityTerm: { topologyKey: 'zone', matchLabelKeys: ['a'], namespaces: ['Bad_NS'] } }] },
    },
  });
  const na = 'spec.affinity.nodeAffinity';
  assert.deepEqual(got, [
    `${na}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when \`operator\` is 'In' or 'NotIn'`,
    `${na}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values[0]: Invalid value: "x": must be an integer`,
    `${na}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[2].operator: Unsupported value: "Near": supported values: "DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"`,
    `${na}.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100`,
    `${na}.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchFields[0].key: Unsupported value: "metadata.uid": supported values: "metadata.name"`,
    'spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty',
    'spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100',
    'spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespaces[0]: ' +
      "Invalid value: \"Bad_NS\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    'spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.matchLabelKeys[0]: Forbidden: must not be specified when labelSelector is not set',
  ]);
});

test('bad topology spread constraints: each problem named with its field', () => {
  const got = causes({
    topologySpreadConstraints: [
      { maxSkew: 0, topologyKey: 'zone', whenUnsatisfiable: 'Sometimes', nodeAffinityPolicy: 'Maybe' },
      { maxSkew: 1, topologyKey: '', whenUnsatisfiable: 'ScheduleAnyway', minDomains: 2 },
      { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'a' } }, matchLabelKeys: ['app'] },
      { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', minDomains: 0 },
    ],
  });
  const p = 'spec.topologySpreadConstraints';
  assert.deepEqual(got, [
    `${p}[0].maxSkew: Invalid value: 0: must be greater than zero`,
    `${p}[0].whenUnsatisfiable: Unsupported value: "Sometimes": supported values: "DoNotSchedule", "ScheduleAnyway"`,
    `${p}[0].nodeAffinityPolicy: Unsupported value: "Maybe": supported values: "Honor", "Ignore"`,
    `${p}[1].topologyKey: Required value: can not be empty`,
    `${p}[1].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway`,
    `${p}[2].matchLabelKeys[0]: Invalid value: "app": exists in both matchLabelKeys and labelSelector`,
    `${p}[3].minDomains: Invalid value: 0: must be greater than 0`,
    `${p}[3].{topologyKey, whenUnsatisfiable}: Duplicate value: "{zone, DoNotSchedule}"`,
  ]);
});
