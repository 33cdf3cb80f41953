#!/usr/bin/env bash
# The whole check: what `npm test` runs after the bootstrap, and `deno task test`:
# the Deno checks and tests, then the npm build, the tests again under Node, and the npm smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
deno=node_modules/.bin/deno
[ -x "$deno" ] || deno=$(command -v deno)

step() { printf '\n== %s\n' "$*" >&2; }

step "constants are fresh"
"$deno" run --allow-read --allow-env scripts/gen_constants.ts --check
step "deno fmt --check"
"$deno" fmt --check
step "deno lint"
"$deno" lint
step "deno check (every file, bench/ included, and the examples in the docs and the README)"
"$deno" check --quiet --doc
"$deno" check --quiet --doc-only README.md
step "deno doc --lint (the package's entry points)"
"$deno" doc --lint mod.ts src/demo/mod.ts src/demo/cli.ts
step "deno test on libssh $("$deno" eval 'import { libsshVersion } from "./ffi/load.ts"; console.log(libsshVersion());')"
"$deno" test --quiet --allow-all --v8-flags=--expose-gc tests/
step "examples: DemoServer in deno test, the pytest fixture and the shell script around the CLI"
"$deno" test --quiet --allow-all examples/deno/
LIBSSH_DEMO="$deno run -A src/demo/cli.ts" /usr/bin/python3 -m pytest -q -p no:cacheprovider examples/pytest
LIBSSH_DEMO="$deno run -A src/demo/cli.ts" bash examples/shell/demo_server.sh
step "npm build (scripts/build_npm.ts: tsc into npm/, tests into npm/tests/)"
"$deno" run --allow-read --allow-write --allow-env scripts/build_npm.ts
step "node --test: the same tests, compiled, against the npm build"
node --expose-gc --test --test-concurrency=1 --test-reporter=spec npm/tests/*.test.js
step "package contents (deno publish --dry-run, npm pack --dry-run)"
bash scripts/check_packages.sh
step "npm smoke test (scripts/npm_smoke.sh: the packed tarball in an empty project)"
bash scripts/npm_smoke.sh
