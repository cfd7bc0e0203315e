#!/usr/bin/env bash
# The one test command (npm test runs this; so does CI): every *.test.ts under src/ and test/,
# through node's test runner (scripts/run-tests.mjs: the VM file first, two files at a time).
# Extra arguments: --test-name-pattern=RE (e.g. --test-name-pattern=kubectl), or test files to run
# only those.
set -euo pipefail
cd "$(dirname "$0")/.."

# kubectl fetched by scripts/setup.sh on machines without /usr/bin/kubectl
if [ -d .tools/bin ]; then export PATH="$PWD/.tools/bin:$PATH"; fi

# --import tsx reaches every test file's process (the runner passes its node flags on)
exec node --import tsx scripts/run-tests.mjs "$@"
