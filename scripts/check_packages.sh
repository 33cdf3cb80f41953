#!/usr/bin/env bash
# The two published packages hold only what they should:
#   - `deno publish --dry-run` (JSR): the publish.include list of deno.json, and
#     JSR's own checks (slow types, missing docs) pass;
#   - `npm pack --dry-run` of the npm build: the compiled package, README and
#     LICENSE; no tests, examples or sources of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
deno=node_modules/.bin/deno
[ -x "$deno" ] || deno=$(command -v deno)

"$deno" publish --dry-run --allow-dirty --quiet 2>&1 | tail -n 3

listing=$(cd npm && npm pack --dry-run --json 2>/dev/null)
unexpected=$(printf '%s' "$listing" | node -e '
  const [pack] = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
  const allowed = /^(package\.json|README\.md|LICENSE|mod\.(js|d\.ts)|(src|ffi)\/.+\.(js|d\.ts)|cjs\/.+\.cjs)$/;
  const files = pack.files.map((file) => file.path);
  for (const needed of ["mod.js", "mod.d.ts", "src/demo/cli.js", "ffi/node.js", "LICENSE", "README.md"]) {
    if (!files.includes(needed)) console.log(`missing: ${needed}`);
  }
  for (const file of files) if (!allowed.test(file)) console.log(`unexpected: ${file}`);
  console.error(`npm pack: ${files.length} files, ${pack.size} bytes packed`);
')
if [ -n "$unexpected" ]; then
  echo "npm pack lists what it should not:" >&2
  echo "$unexpected" >&2
  exit 1
fi
