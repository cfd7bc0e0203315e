import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;
const srcDir = path.join(root, 'src');

/**
 * Which folders under src/ a folder's code may import (DESIGN: dependencies point one way,
 * `cli → (apiserver | controllers | edgehub | agent) → api, store, lib`). A file belongs to the
 * longest key that prefixes its path; imports inside its own layer are always allowed. `allow`
 * lists what it may reach, `deny` what it may not (everything else is fine). Tests (`*.test.ts`,
 * `testing/`, contract suites) may wire anything together and are not checked.
 */
const layers = {
  lib: { allow: [] },
  api: { allow: ['lib'] },
  // the built-in types wire tables, field selectors, defaults and validation into ResourceDefs;
  // those build on api/resources and never on the wiring
  'api/builtin': { allow: ['api', 'lib'] },
  store: { allow: ['api', 'lib'] },
  client: { allow: ['api', 'lib'] },
  guest: { allow: ['lib'] },
  apiserver: { deny: ['agent', 'controllers', 'edgehub', 'logship', 'guest', 'cli'] },
  controllers: { deny: ['apiserver', 'agent', 'edgehub', 'logship', 'guest', 'cli'] },
  edgehub: { allow: ['apiserver', 'store', 'client', 'api', 'lib'] },
  agent: { deny: ['apiserver', 'controllers', 'edgehub', 'cli'] },
  // reads the CRI log files the agent writes, with the agent's parser (agent/logs/cri-log.ts)
  logship: { deny: ['apiserver', 'controllers', 'edgehub', 'cli'] },
  cli: { deny: [] },
};

/** The layer a path under src/ belongs to ('' when no key prefixes it). */
function layerOf(relPath) {
  let best = '';
  for (const key of Object.keys(layers)) {
    if ((relPath === key || relPath.startsWith(`${key}/`)) && key.length > best.length) best = key;
  }
  return best;
}

/** true when `to` is `layer` itself or a sub-layer of it (allowing `api` allows `api/builtin` too) */
function within(to, layer) {
  return to === layer || to.startsWith(`${layer}/`);
}

const isTestSupport = (rel) => /(^|\/)(testing\/|[^/]*\.test\.ts$|[^/]*contract\.ts$)/.test(rel);

const layering = {
  meta: {
    type: 'problem',
    docs: { description: 'keep imports between src/ folders pointing one way (see the table in eslint.config.js)' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const rel = path.relative(srcDir, file).split(path.sep).join('/');
    if (rel.startsWith('..') || isTestSupport(rel)) return {};
    const from = layerOf(rel);
    const check = (node) => {
      const spec = node?.type === 'Literal' && typeof node.value === 'string' ? node.value : undefined;
      if (!spec || !spec.startsWith('.')) return;
      const target = path.relative(srcDir, path.resolve(path.dirname(file), spec)).split(path.sep).join('/');
      if (target.startsWith('..')) {
        context.report({ node, message: `src/${rel} imports ${spec}, outside src/: shipped code may not depend on tests or scripts` });
        return;
      }
      const to = layerOf(target);
      if (to === from) return;
      if (!from || !to) {
        context.report({ node, message: `src/${(from ? target : rel).split('/')[0]}/ has no row in the layering table of eslint.config.js: add one` });
        return;
      }
      const rule = layers[from];
      const ok = rule.allow ? rule.allow.some((l) => within(to, l)) : !rule.deny.some((l) => within(to, l));
      if (!ok) context.report({ node, message: `src/${from}/ may not import src/${to}/ (${spec}); see the layering table in eslint.config.js` });
    };
    return {
      ImportDeclaration: (n) => check(n.source),
      ExportNamedDeclaration: (n) => check(n.source),
      ExportAllDeclaration: (n) => check(n.source),
      ImportExpression: (n) => check(n.source),
    };
  },
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'src/api/openapi/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    plugins: { hedge: { rules: { layering } } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // node:test's describe/test return promises the runner itself tracks
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'suite', 'test', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      'hedge/layering': 'error',
      'no-console': 'off',
      'no-restricted-properties': [
        'error',
        {
          object: 'AbortSignal',
          property: 'any',
          message: "Node 20's AbortSignal.any never forgets a long-lived source (nodejs/node#55351): use linkedSignal/timeoutSignal from src/lib/signals.ts and clear() them",
        },
      ],
    },
  },
  {
    // plain JS (this file, scripts) is not in the TypeScript project
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
