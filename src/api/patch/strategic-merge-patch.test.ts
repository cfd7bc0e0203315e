import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { isHedgeError } from '../../lib/errors.ts';
import type { Json } from '../object.ts';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';
import { emptyPatchMeta, patchMetaFromOpenAPI, type OpenAPIV2Schema } from './patch-meta.ts';

/*
 * Cases ported from k8s.io/apimachinery/pkg/util/strategicpatch/patch_test.go
 * (customStrategicMergePatchTestCaseData, createStrategicMergePatchTestCaseData and the
 * raw cases): each upstream case gives (original, twoWay) → modified and
 * (current, threeWay) → result; both directions are apply tests here. The schema is
 * upstream's MergeItem test struct, expressed as OpenAPI definitions.
 */
const ref = (name: string): OpenAPIV2Schema => ({ $ref: `#/definitions/${name}` });
const definitions: Record<string, OpenAPIV2Schema> = {
  mergeItem: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      value: { type: 'string' },
      other: { type: 'string' },
      mergingList: { type: 'array', items: ref('mergeItem'), 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' },
      nonMergingList: { type: 'array', items: ref('mergeItem') },
      mergingIntList: { type: 'array', items: { type: 'integer' }, 'x-kubernetes-patch-strategy': 'merge' },
      nonMergingIntList: { type: 'array', items: { type: 'integer' } },
      mergeItemPtr: { type: 'array', items: ref('mergeItem'), 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' },
      simpleMap: { type: 'object', additionalProperties: { type: 'string' } },
      replacingItem: { type: 'object', 'x-kubernetes-patch-strategy': 'replace' },
      retainKeysMap: { allOf: [ref('retainKeysMergeItem')], 'x-kubernetes-patch-strategy': 'retainKeys' },
      retainKeysMergingList: {
        type: 'array',
        items: ref('mergeItem'),
        'x-kubernetes-patch-strategy': 'merge,retainKeys',
        'x-kubernetes-patch-merge-key': 'name',
      },
    },
  },
  retainKeysMergeItem: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      value: { type: 'string' },
      other: { type: 'string' },
      simpleMap: { type: 'object', additionalProperties: { type: 'string' } },
      mergingIntList: { type: 'array', items: { type: 'integer' }, 'x-kubernetes-patch-strategy': 'merge' },
      mergingList: { type: 'array', items: ref('mergeItem'), 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' },
      nonMergingList: { type: 'array', items: ref('mergeItem') },
    },
  },
};
const meta = patchMetaFromOpenAPI(definitions, 'mergeItem');

interface Case {
  description: string;
  original: Json;
  patch: Json;
  expected?: Json;
  error?: string;
}

const cases = parse(`
- description: unique scalars when merging lists
  original: {mergingIntList: [1, 2]}
  patch: {mergingIntList: [2, 3]}
  expected: {mergingIntList: [1, 2, 3]}
- description: delete map from nested map
  original: {simpleMap: {key1: "1", key2: "1"}}
  patch: {simpleMap: {$patch: delete}}
  expected: {simpleMap: {}}
- description: delete all items from merging list
  original: {mergingList: [{name: "1"}, {name: "2"}]}
  patch: {mergingList: [{$patch: replace}]}
  expected: {mergingList: []}
- description: merge empty merging lists
  original: {mergingList: []}
  patch: {mergingList: []}
  expected: {mergingList: []}
- description: delete all keys from map
  original: {name: "1", value: "1"}
  patch: {$patch: replace}
  expected: {}
- description: add key and delete all keys from map
  original: {name: "1", value: "1"}
  patch: {other: a, $patch: replace}
  expected: {other: a}
- description: delete all duplicate entries in a merging list
  original: {mergingList: [{name: "1"}, {name: "1"}, {name: "2", value: a}, {name: "3"}, {name: "3"}]}
  patch: {mergingList: [{name: "1", $patch: delete}, {name: "3", $patch: delete}]}
  expected: {mergingList: [{name: "2", value: a}]}
- description: retainKeys map can add a field when no retainKeys directive present
  original: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {value: bar}}
  expected: {retainKeysMap: {name: foo, value: bar}}
- description: retainKeys map can delete a field when no retainKeys directive present
  original: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {value: null}}
  expected: {retainKeysMap: {name: foo}}
- description: retainKeys list can change a field when no retainKeys directive present
  original: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
  patch: {retainKeysMergingList: [{name: foo, value: b}]}
  expected: {retainKeysMergingList: [{name: bar}, {name: foo, value: b}]}
- description: preserve the order from the patch in a merging list
  original: {mergingList: [{name: "1"}, {name: "2", value: b}, {name: "3"}]}
  patch: {mergingList: [{name: "3", value: c}, {name: "1", value: a}, {name: "2", other: x}]}
  expected: {mergingList: [{name: "3", value: c}, {name: "1", value: a}, {name: "2", value: b, other: x}]}
- description: preserve the order from the patch in a merging list 2
  original: {mergingList: [{name: "1"}, {name: "2", value: b}, {name: "3"}]}
  patch: {mergingList: [{name: "3", value: c}, {name: "1", value: a}]}
  expected: {mergingList: [{name: "2", value: b}, {name: "3", value: c}, {name: "1", value: a}]}
- description: preserve the order from the patch in a merging int list
  original: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1, 2]}
  expected: {mergingIntList: [3, 1, 2]}
- description: preserve the order from the patch in a partial merging int list
  original: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1]}
  expected: {mergingIntList: [2, 3, 1]}
- description: $setElementOrder contains item that is not present in the list to be merged
  original: {mergingList: [{name: "1"}, {name: "3"}]}
  patch:
    $setElementOrder/mergingList: [{name: "3"}, {name: "2"}, {name: "1"}]
    mergingList: [{name: "3", value: "3"}, {name: "1", value: "1"}]
  expected: {mergingList: [{name: "3", value: "3"}, {name: "1", value: "1"}]}
- description: $setElementOrder contains item that is not present in the int list to be merged
  original: {mergingIntList: [1, 3]}
  patch: {$setElementOrder/mergingIntList: [3, 2, 1]}
  expected: {mergingIntList: [3, 1]}
- description: should check if order in $setElementOrder and patch list match
  original: {mergingList: [{name: "1"}, {name: "3"}, {name: "2"}]}
  patch:
    $setElementOrder/mergingList: [{name: "1"}, {name: "2"}, {name: "3"}]
    mergingList: [{name: "3", value: "3"}, {name: "1", value: "1"}]
  error: doesn't match
- description: should check if order in $setElementOrder and patch int list match
  original: {mergingIntList: [1, 3, 2]}
  patch: {$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3, 1]}
  error: doesn't match
- description: missing merge key should error out
  original: {mergingList: [{name: "1", value: a}]}
  patch: {mergingList: [{value: b}]}
  error: does not contain declared merge key
- description: $deleteFromPrimitiveList of nonexistent item in primitive list should not add the item to the list
  original: {mergingIntList: [1, 2]}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [1, 2]}
- description: $deleteFromPrimitiveList on empty primitive list should not add the item to the list
  original: {mergingIntList: null}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: null}
- description: $deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list
  original: {foo: [bar]}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {foo: [bar]}
- description: $deleteFromPrimitiveList should delete item from a list with merge patch strategy
  original: {mergingIntList: [1, 2, 3]}
  patch: {$deleteFromPrimitiveList/mergingIntList: [2]}
  expected: {mergingIntList: [1, 3]}
- description: $deleteFromPrimitiveList should delete item from a list without merge patch strategy
  original: {nonMergingIntList: [1, 2, 3]}
  patch: {$deleteFromPrimitiveList/nonMergingIntList: [2]}
  expected: {nonMergingIntList: [1, 3]}
- description: nil original
  original: {name: "1", other: a}
  patch: {value: "1"}
  expected: {name: "1", value: "1", other: a}
- description: add field and delete field from map
  original: {name: "1", other: a}
  patch: {name: null, value: "1"}
  expected: {value: "1", other: a}
- description: delete field from nested map
  original: {simpleMap: {key1: "1", key2: "1", other: a}}
  patch: {simpleMap: {key2: null}}
  expected: {simpleMap: {key1: "1", other: a}}
- description: replace list of scalars with conflict
  original: {nonMergingIntList: [1, 4]}
  patch: {nonMergingIntList: [2, 3]}
  expected: {nonMergingIntList: [2, 3]}
- description: delete all maps from merging list with conflict
  original: {mergingList: [{name: "1", other: a}, {name: "2", other: b}]}
  patch: {mergingList: [{name: "1", $patch: delete}, {name: "2", $patch: delete}]}
  expected: {mergingList: []}
- description: delete all maps from empty merging list
  original: {mergingList: []}
  patch: {mergingList: [{name: "1", $patch: delete}, {name: "2", $patch: delete}]}
  expected: {mergingList: []}
- description: defined null values should propagate overwrite current fields
  original: {name: a, other: a}
  patch: {name: "1", value: "1", other: null}
  expected: {name: "1", value: "1"}
- description: nested patch merge with empty list (two-way)
  original: {name: hi}
  patch: {mergingList: [{name: hello}, {$patch: delete, name: doesntexist}]}
  expected: {name: hi, mergingList: [{name: hello}]}
- description: nested patch merge with empty list (three-way)
  original: {name: hi, mergingList: [{name: hello2}]}
  patch:
    $setElementOrder/mergingList: [{name: hello}, {name: doesntexist}]
    mergingList: [{name: hello}, {$patch: delete, name: doesntexist}]
  expected: {name: hi, mergingList: [{name: hello}, {name: hello2}]}
- description: delete items in lists of scalars
  original: {mergingIntList: [1, 2, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [1, 2, 4]}
- description: delete all duplicate items in lists of scalars
  original: {mergingIntList: [1, 2, 3, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [1, 2, 4]}
- description: add and delete items in lists of scalars
  original: {mergingIntList: [1, 2, 3]}
  patch:
    $setElementOrder/mergingIntList: [1, 2, 4]
    $deleteFromPrimitiveList/mergingIntList: [3]
    mergingIntList: [4]
  expected: {mergingIntList: [1, 2, 4]}
- description: merge lists of maps
  original: {mergingList: [{name: "1", other: a}, {name: "2", value: "2", other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: "4"}, {name: "1"}, {name: "2"}, {name: "3"}]
    mergingList: [{name: "4", value: "4"}, {name: "3", value: "3"}]
  expected:
    mergingList: [{name: "4", value: "4"}, {name: "1", other: a}, {name: "2", value: "2", other: b}, {name: "3", value: "3"}]
- description: add field to map in merging list with conflict
  original: {mergingList: [{name: "1", other: a}, {name: "3", value: "2", other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: "1"}, {name: "2"}]
    mergingList: [{name: "1", value: "1"}, {name: "2", value: "2"}]
  expected:
    mergingList: [{name: "1", value: "1", other: a}, {name: "2", value: "2"}, {name: "3", value: "2", other: b}]
- description: delete map from merging list
  original: {mergingList: [{name: "1"}, {name: "2", other: b}]}
  patch: {$setElementOrder/mergingList: [{name: "2"}], mergingList: [{name: "1", $patch: delete}]}
  expected: {mergingList: [{name: "2", other: b}]}
- description: delete missing map from merging list with conflict
  original: {mergingList: [{name: "3", other: a}]}
  patch:
    $setElementOrder/mergingList: [{name: "2"}]
    mergingList: [{name: "2"}, {name: "1", $patch: delete}]
  expected: {mergingList: [{name: "2"}, {name: "3", other: a}]}
- description: add map and delete map from merging list
  original: {mergingList: [{name: "1"}, {name: "2", other: b}, {name: "4", other: c}]}
  patch:
    $setElementOrder/mergingList: [{name: "2"}, {name: "3"}]
    mergingList: [{name: "3"}, {name: "1", $patch: delete}]
  # upstream compares this one sorted; the order is what its algorithm yields
  expected: {mergingList: [{name: "2", other: b}, {name: "3"}, {name: "4", other: c}]}
- description: add map and delete map from merging list with conflict
  original: {mergingList: [{name: "1", other: a}, {name: "4", other: c}]}
  patch:
    $setElementOrder/mergingList: [{name: "2"}, {name: "3"}]
    mergingList: [{name: "2"}, {name: "3"}, {name: "1", $patch: delete}]
  # upstream compares this one sorted; the order is what its algorithm yields
  expected: {mergingList: [{name: "2"}, {name: "3"}, {name: "4", other: c}]}
- description: delete field from map in merging list
  original: {mergingList: [{name: "1", value: "1", other: a}, {name: "2", value: "2", other: b}]}
  patch: {$setElementOrder/mergingList: [{name: "1"}, {name: "2"}], mergingList: [{name: "1", value: null}]}
  expected: {mergingList: [{name: "1", other: a}, {name: "2", value: "2", other: b}]}
- description: replace non merging list nested in merging list
  original:
    mergingList: [{name: "1", other: a, nonMergingList: [{name: "1"}, {name: "2", value: "2"}]}, {name: "2", other: b}]
  patch:
    $setElementOrder/mergingList: [{name: "1"}, {name: "2"}]
    mergingList: [{name: "1", nonMergingList: [{name: "1", value: "1"}]}]
  expected:
    mergingList: [{name: "1", other: a, nonMergingList: [{name: "1", value: "1"}]}, {name: "2", other: b}]
- description: retainKeys map adds an item in nested merging list
  original: {retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: x}]}}
  patch:
    retainKeysMap:
      $retainKeys: [mergingList, name]
      $setElementOrder/mergingList: [{name: a}, {name: b}, {name: c}]
      mergingList: [{name: c}]
  expected: {retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: c}, {name: x}]}}
- description: retainKeys map deletes nested merging list
  original: {retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}]}}
  patch: {retainKeysMap: {$retainKeys: [name, value], value: bar, mergingList: null}}
  expected: {retainKeysMap: {name: foo, value: bar}}
- description: retainKeys map clears fields missing from the directive
  original: {retainKeysMap: {name: foo, value: a, other: x, simpleMap: {k: v}}}
  patch: {retainKeysMap: {$retainKeys: [name, value], value: b}}
  expected: {retainKeysMap: {name: foo, value: b}}
- description: retainKeys list of maps clears a field
  original: {retainKeysMergingList: [{name: bar}, {name: foo, value: a, other: x}]}
  patch:
    $setElementOrder/retainKeysMergingList: [{name: bar}, {name: foo}]
    retainKeysMergingList: [{$retainKeys: [name, value], name: foo}]
  expected: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
- description: retainKeys list of maps deletes a field and clear a field
  original: {retainKeysMergingList: [{name: bar}, {name: foo, value: a, other: x}]}
  patch:
    $setElementOrder/retainKeysMergingList: [{name: bar}, {name: foo}]
    retainKeysMergingList: [{$retainKeys: [name], name: foo, value: null}]
  expected: {retainKeysMergingList: [{name: bar}, {name: foo}]}
- description: patch content not in $retainKeys is rejected
  original: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {$retainKeys: [name], value: bar}}
  error: doesn't match retainKeys
- description: delete and reorder in one list, reorder in another
  original:
    mergingList: [{name: a, value: a}, {name: b, value: b}]
    mergeItemPtr: [{name: c, value: c}, {name: d, value: d}]
  patch:
    $setElementOrder/mergingList: [{name: b}]
    $setElementOrder/mergeItemPtr: [{name: d}, {name: c}]
    mergingList: [{$patch: delete, name: a}]
  expected:
    mergingList: [{name: b, value: b}]
    mergeItemPtr: [{name: d, value: d}, {name: c, value: c}]
- description: replace strategy map is replaced, not merged
  original: {replacingItem: {a: "1", b: "2"}}
  patch: {replacingItem: {c: "3"}}
  expected: {replacingItem: {c: "3"}}
- description: $patch replace on a nested map
  original: {simpleMap: {a: "1", b: "2"}}
  patch: {simpleMap: {$patch: replace, c: "3"}}
  expected: {simpleMap: {c: "3"}}
- description: $patch merge on a map merges as usual
  original: {simpleMap: {a: "1"}}
  patch: {simpleMap: {$patch: merge, b: "2"}}
  expected: {simpleMap: {a: "1", b: "2"}}
- description: unknown directive is rejected
  original: {simpleMap: {a: "1"}}
  patch: {simpleMap: {$patch: frobnicate}}
  error: unknown patch type
- description: lists of lists are rejected
  original: {mergingIntList: [[1]]}
  patch: {mergingIntList: [[2]]}
  error: the server rejected our request
- description: list element $patch delete without the merge key is rejected
  original: {mergingList: [{name: "1"}]}
  patch: {mergingList: [{$patch: delete}]}
  error: does not contain declared merge key
- description: type change replaces the value
  original: {name: {nested: true}}
  patch: {name: plain}
  expected: {name: plain}
`) as Case[];

test('strategic merge patch: ported upstream cases', async (t) => {
  assert.ok(cases.length >= 30, `only ${cases.length} cases`);
  for (const c of cases) {
    await t.test(c.description, () => {
      const before = structuredClone(c.original);
      const patchBefore = structuredClone(c.patch);
      if (c.error !== undefined) {
        assert.throws(
          () => applyStrategicMergePatch(c.original, c.patch, meta),
          (err: unknown) => isHedgeError(err) && (err.message + JSON.stringify(err.details)).includes(c.error ?? ''),
        );
        return;
      }
      const got = applyStrategicMergePatch(c.original, c.patch, meta);
      assert.deepStrictEqual(got, c.expected);
      assert.deepStrictEqual(c.original, before, 'input document must not be mutated');
      assert.deepStrictEqual(c.patch, patchBefore, 'patch must not be mutated');
    });
  }
});

test('error codes: format errors are 400, retainKeys mismatch is 422', () => {
  assert.throws(
    () => applyStrategicMergePatch({}, { $retainKeys: 'x' }, meta),
    (e: unknown) => isHedgeError(e, 'BadRequest'),
  );
  assert.throws(
    () => applyStrategicMergePatch({ mergingList: [{ name: 'a' }] }, { mergingList: [{ value: 'b' }] }, meta),
    (e: unknown) => isHedgeError(e, 'BadRequest') && e.message.includes('merge key: name'),
  );
  assert.throws(
    () => applyStrategicMergePatch({ retainKeysMap: {} }, { retainKeysMap: { $retainKeys: [], value: 'x' } }, meta),
    (e: unknown) => isHedgeError(e, 'Invalid'),
  );
  assert.throws(() => applyStrategicMergePatch({}, [] as Json, meta), (e: unknown) => isHedgeError(e, 'BadRequest'));
});

test('emptyPatchMeta: maps merge, lists are replaced', () => {
  const got = applyStrategicMergePatch(
    { spec: { a: 1, list: [{ name: 'x' }, { name: 'y' }] } },
    { spec: { b: 2, list: [{ name: 'z' }] } },
    emptyPatchMeta,
  );
  assert.deepStrictEqual(got, { spec: { a: 1, b: 2, list: [{ name: 'z' }] } });
});

test('mini Pod schema: containers merge by name, env by name, args replaced', () => {
  const defs: Record<string, OpenAPIV2Schema> = {
    'io.k8s.api.core.v1.Pod': {
      type: 'object',
      properties: { metadata: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'), spec: ref('io.k8s.api.core.v1.PodSpec') },
    },
    'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': {
      type: 'object',
      properties: {
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        finalizers: { type: 'array', items: { type: 'string' }, 'x-kubernetes-patch-strategy': 'merge' },
      },
    },
    'io.k8s.api.core.v1.PodSpec': {
      type: 'object',
      properties: {
        containers: {
          type: 'array',
          items: ref('io.k8s.api.core.v1.Container'),
          'x-kubernetes-patch-strategy': 'merge',
          'x-kubernetes-patch-merge-key': 'name',
        },
      },
    },
    'io.k8s.api.core.v1.Container': {
      type: 'object',
      properties: {
        name: { type: 'string' },
        image: { type: 'string' },
        args: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'atomic' },
        env: {
          type: 'array',
          items: { type: 'object', properties: { name: { type: 'string' }, value: { type: 'string' } } },
          'x-kubernetes-patch-strategy': 'merge',
          'x-kubernetes-patch-merge-key': 'name',
        },
      },
    },
  };
  const podMeta = patchMetaFromOpenAPI(defs, 'io.k8s.api.core.v1.Pod');
  assert.deepStrictEqual(podMeta.field('spec').child?.field('containers').info, {
    strategy: 'merge',
    mergeKey: 'name',
  });
  const live: Json = {
    metadata: { labels: { a: '1' }, finalizers: ['x'] },
    spec: {
      containers: [
        { name: 'c', image: 'nginx:1', args: ['-a'], env: [{ name: 'A', value: '1' }] },
        { name: 'side', image: 'busybox' },
      ],
    },
  };
  const got = applyStrategicMergePatch(
    live,
    {
      metadata: { labels: { b: '2' }, finalizers: ['y'] },
      spec: { containers: [{ name: 'c', image: 'nginx:2', args: ['-b'], env: [{ name: 'B', value: '2' }] }] },
    },
    podMeta,
  );
  // Like upstream, items only in the patch go before live-only ones (no $setElementOrder).
  assert.deepStrictEqual(got, {
    metadata: { labels: { a: '1', b: '2' }, finalizers: ['y', 'x'] },
    spec: {
      containers: [
        { name: 'c', image: 'nginx:2', args: ['-b'], env: [{ name: 'B', value: '2' }, { name: 'A', value: '1' }] },
        { name: 'side', image: 'busybox' },
      ],
    },
  });
});
