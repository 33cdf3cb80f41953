#!/usr/bin/env bash
# The whole check: what `npm test` runs after the bootstrap, and `deno task test`.
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
step "deno check (every file, and the examples in the docs)"
"$deno" check --quiet --doc
step "deno doc --lint"
"$deno" doc --lint mod.ts
step "deno test"
"$deno" test --quiet --allow-all --v8-flags=--expose-gc tests/
