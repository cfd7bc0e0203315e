#!/usr/bin/env bash
# The one test command (npm test runs this; so does CI): every *.test.ts under src/ and test/.
# Extra arguments: --test-name-pattern=RE (e.g. --test-name-pattern=kubectl).
set -euo pipefail
cd "$(dirname "$0")/.."

# kubectl fetched by scripts/setup.sh on machines without /usr/bin/kubectl
if [ -d .tools/bin ]; then export PATH="$PWD/.tools/bin:$PATH"; fi

mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "scripts/test.sh: no test files found" >&2
  exit 1
fi
# scripts/run-tests.mjs runs them through node:test's run() (two at a time, the longest files first,
# each test bounded) and reports as scripts/test-reporter.mjs; test files inherit --import tsx
exec node --import tsx scripts/run-tests.mjs "$@" "${files[@]}"
