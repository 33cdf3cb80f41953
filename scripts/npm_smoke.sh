#!/usr/bin/env bash
# The npm package as a user gets it (run `deno task build:npm` first): packs
# npm/, installs the tarball into an empty project (koffi comes from the npm
# cache or registry), then
#   - imports it from ESM and from CommonJS (require(esm), or its clear error),
#   - runs an exec from the ssh2 client against a DemoServer,
#   - type-checks examples/node_server.mjs (the README's Node example, which
#     must equal it) against the installed types and serves OpenSSH with it,
#   - runs `npx libssh-demo`, logs in with OpenSSH, SIGTERMs the CLI: exit 0,
#   - runs examples/pytest (copied) and examples/shell with their default command, the bin,
#   - installs the built folder itself (`npm install path/to/npm`, the README's other way).
# Only 127.0.0.1 and port 0; only the processes started here are killed, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d)
pids=()
# Prints the descendants of process $1 ("PID ARGS" lines), parents first.
descendants() {
  local queue=("$1") parent child args
  while [ ${#queue[@]} -gt 0 ]; do
    parent=${queue[0]}
    queue=("${queue[@]:1}")
    while read -r child args; do
      [ -n "$child" ] || continue
      echo "$child $args"
      queue+=("$child")
    done < <(ps -o pid=,args= --ppid "$parent" || true)
  done
}
cleanup() {
  local pid tree
  for pid in "${pids[@]}"; do
    tree=$(descendants "$pid" | cut -d' ' -f1)
    kill -KILL "$pid" $tree 2>/dev/null || true
  done
  rm -rf "$tmp"
}
# Drops ended processes from the cleanup list (their PIDs may be reused).
forget() { pids=(); }
trap cleanup EXIT

fail() {
  echo "npm smoke: FAILED: $*" >&2
  exit 1
}
ok() { echo "npm smoke: ok: $*" >&2; }

# Waits until file $1 has a line matching regex $2 (at most 30 s); prints that line.
wait_for_line() {
  for _ in $(seq 300); do
    if grep -Eq "$2" "$1" 2>/dev/null; then
      grep -Em1 "$2" "$1"
      return
    fi
    sleep 0.1
  done
  fail "no line matching /$2/ in $1: $(cat "$1" 2>/dev/null)"
}

# OpenSSH with password auth only: login PORT PASSWORD COMMAND
login() {
  timeout 30 sshpass -p "$2" ssh -p "$1" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=10 -o PreferredAuthentications=password smoke@127.0.0.1 "$3"
}

[ -f npm/package.json ] || fail "npm/ is not built: run deno task build:npm"
tarball=$(cd npm && npm pack --silent --pack-destination "$tmp")
project=$tmp/project
mkdir "$project"
cd "$project"
echo '{ "name": "libssh-smoke", "private": true }' >package.json
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$tmp/$tarball" >&2
deps=$(node -p 'Object.keys(require("libssh/package.json").dependencies).join(",")')
[ "$deps" = koffi ] || fail "dependencies are $deps, not koffi alone"
ok "installed $tarball (dependencies: $deps)"

cat >esm.mjs <<'EOF'
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as libssh from "libssh";
import { DemoServer } from "libssh/demo";

assert.equal(libssh.DemoServer, undefined, "the DemoServer is exported by libssh/demo only");
const { Client } = createRequire(`${process.env.WORKSPACE}/package.json`)("ssh2");
const ds = await DemoServer.start({ password: "pw" });
try {
  const result = await new Promise((resolve, reject) => {
    const client = new Client();
    client.on("error", reject).on("ready", () => {
      client.exec("echo via-ssh2 $((6 * 7)); exit 3", (error, stream) => {
        if (error) return reject(error);
        let stdout = "";
        let code;
        stream.on("data", (d) => stdout += d).on("exit", (c) => code = c);
        stream.on("close", () => {
          client.end();
          resolve({ stdout, code });
        });
      });
    }).connect({ host: "127.0.0.1", port: ds.port, username: "smoke", password: "pw" });
  });
  assert.deepEqual(result, { stdout: "via-ssh2 42\n", code: 3 });
  assert.ok(ds.timeline.some((entry) => entry.event === "exit-status"));
} finally {
  await ds.close();
}
EOF
WORKSPACE=$root node esm.mjs || fail "ESM import + DemoServer + ssh2 exec"
ok "import from ESM; DemoServer served an ssh2 exec"

# examples/node/demo_server.test.mjs as a user runs it in their project (ssh2 is its client under test).
ln -sfn "$root/node_modules/ssh2" node_modules/ssh2
cp "$root/examples/node/demo_server.test.mjs" .
node --test demo_server.test.mjs >node-test.out 2>&1 || fail "examples/node/demo_server.test.mjs: $(cat node-test.out)"
ok "examples/node/demo_server.test.mjs passes under node --test"

cat >cjs.cjs <<'EOF'
const assert = require("node:assert/strict");
if (process.features.require_module) {
  const libssh = require("libssh");
  assert.equal(typeof require("libssh/demo").DemoServer, "function");
  assert.equal(libssh.DemoServer, undefined, "the DemoServer is exported by libssh/demo only");
  const key = libssh.SshKey.generate("ed25519");
  assert.match(key.fingerprint(), /^SHA256:/);
  key.close();
  import("libssh").then((imported) => {
    assert.equal(imported.SshKey, libssh.SshKey, "require() and import share one instance");
    console.log("required");
  });
} else {
  assert.throws(() => require("libssh"), /libssh is an ES module.*import/);
  assert.throws(() => require("libssh/demo"), /libssh is an ES module.*import/);
  console.log("clear error");
}
EOF
[ "$(node cjs.cjs)" = required ] || fail "require() on a Node with require(esm)"
ok "require() from CommonJS (one instance with import)"
if node --no-experimental-require-module -e 0 2>/dev/null; then
  [ "$(node --no-experimental-require-module cjs.cjs)" = "clear error" ] || fail "require() message"
  ok "require() without require(esm) gives the clear message"
fi

# The README's Node example is examples/node_server.mjs, type-checked against the package's .d.ts.
readme_example=$(awk '/^## Node$/ { node = 1 } /^## / && !/^## Node$/ { node = 0 }
  node && /^```js$/ { block = 1; next } block && /^```$/ { exit } block { print }' "$root/README.md")
[ "$readme_example" = "$(cat "$root/examples/node_server.mjs")" ] ||
  fail "the README's Node example differs from examples/node_server.mjs"
cp "$root/examples/node_server.mjs" .
node "$root/node_modules/typescript/bin/tsc" --noEmit --allowJs --checkJs --strict --target es2022 \
  --module nodenext --moduleResolution nodenext --typeRoots "$root/node_modules/@types" --types node \
  node_server.mjs || fail "examples/node_server.mjs does not type-check against the package"
node node_server.mjs 0 >server.out 2>server.err &
pid=$!
pids+=("$pid")
port=$(wait_for_line server.out 'listening on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')
[ "$(login "$port" foo hello)" = "you ran hello" ] || fail "examples/node_server.mjs with OpenSSH"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "examples/node_server.mjs exited $rc after SIGTERM: $(cat server.err)"
forget
ok "README example type-checks, serves OpenSSH, exits 0 on SIGTERM"

# The CLI through npx. npx does not pass SIGTERM on, so the signal goes to the
# node process running the CLI (found among npx's descendants); npx returns its status.
npx --no -- libssh-demo --password pw >demo.out 2>demo.err &
npx_pid=$!
pids+=("$npx_pid")
first=$(wait_for_line demo.out '^\{')
node -e 'const i = JSON.parse(process.argv[1]);
  if (Object.keys(i).sort().join() !== "host,hostKeyFingerprint,knownHosts,password,port") process.exit(1);
  if (i.host !== "127.0.0.1" || i.password !== "pw" || !/^SHA256:/.test(i.hostKeyFingerprint)) process.exit(1);' \
  "$first" || fail "first line of libssh-demo: $first"
port=$(node -p 'JSON.parse(process.argv[1]).port' "$first")
[ "$(login "$port" pw 'echo hi')" = hi ] || fail "libssh-demo with OpenSSH"
cli_pid=$(descendants "$npx_pid" | awk '$2 == "node" && /libssh-demo/ { print $1; exit }')
[ -n "$cli_pid" ] || fail "no node process under npx (pid $npx_pid)"
pids+=("$cli_pid")
kill -TERM "$cli_pid"
rc=0
wait "$npx_pid" || rc=$?
[ "$rc" = 0 ] || fail "npx libssh-demo exited $rc after SIGTERM: $(cat demo.err)"
! kill -0 "$cli_pid" 2>/dev/null || fail "the CLI (pid $cli_pid) still runs"
forget
ok "npx libssh-demo: JSON first line, OpenSSH login, exit 0 on SIGTERM"

# The pytest fixture and the shell example, copied into the project: their default command is the bin.
mkdir pytest-copy
cp "$root/examples/pytest/conftest.py" "$root/examples/pytest/test_demo_server.py" pytest-copy/
env -u LIBSSH_DEMO /usr/bin/python3 -m pytest -q -p no:cacheprovider pytest-copy >pytest.out 2>&1 ||
  fail "examples/pytest copied into the project: $(cat pytest.out)"
grep -q "2 passed" pytest.out || fail "examples/pytest: $(cat pytest.out)"
ok "examples/pytest copied into the project passes with its default command (node_modules/.bin/libssh-demo)"
[ "$(env -u LIBSSH_DEMO bash "$root/examples/shell/demo_server.sh")" = "hi from the DemoServer" ] ||
  fail "examples/shell/demo_server.sh with its default command"
ok "examples/shell/demo_server.sh run from the project with its default command"

# The README's other way to install from a checkout: npm install of the built folder (a link).
linked=$tmp/linked
mkdir "$linked"
cd "$linked"
echo '{ "name": "libssh-linked", "private": true }' >package.json
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$root/npm" >&2
node --input-type=module -e 'import { DemoServer } from "libssh/demo";
  const ds = await DemoServer.start(); if (!(ds.port > 0)) process.exit(1); await ds.close();' ||
  fail "npm install of the built folder"
ok "npm install of the built folder: import and start a DemoServer"
