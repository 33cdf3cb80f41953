#!/usr/bin/env bash
# The DemoServer from a shell script: start the CLI, read its first line, connect, stop it with SIGTERM.
# LIBSSH_DEMO is the command that starts the CLI; the default is the npm package's bin (after `npm install`
# of the package or its tarball). From a checkout: LIBSSH_DEMO="deno run -A path/to/libssh/src/demo/cli.ts".
set -euo pipefail
demo_json=$(mktemp)
${LIBSSH_DEMO:-node_modules/.bin/libssh-demo} --password pw >"$demo_json" &
demo=$!
until [ -s "$demo_json" ]; do
  kill -0 "$demo" 2>/dev/null || { echo "the DemoServer CLI exited before its JSON line" >&2; exit 1; }
  sleep 0.1
done
port=$(head -1 "$demo_json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["port"])')
sshpass -p pw ssh -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  -o PreferredAuthentications=password me@127.0.0.1 'echo hi from the DemoServer'
kill -TERM "$demo" # closes every connection, exits 0
wait "$demo"
rm -f "$demo_json"
