#!/usr/bin/env bash
# The one test command (npm test runs this; so does CI): every *.test.ts under src/ and test/.
# Extra arguments are passed to node's test runner (e.g. --test-name-pattern=kubectl).
set -euo pipefail
cd "$(dirname "$0")/.."

# kubectl fetched by scripts/setup.sh on machines without /usr/bin/kubectl
if [ -d .tools/bin ]; then export PATH="$PWD/.tools/bin:$PATH"; fi

mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "scripts/test.sh: no test files found" >&2
  exit 1
fi
exec node --import tsx --test --test-concurrency=2 --test-timeout=180000 "$@" "${files[@]}"
