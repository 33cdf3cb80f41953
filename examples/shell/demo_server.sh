#!/usr/bin/env bash
# The DemoServer from a shell script: start the CLI, read its first line, connect, stop it with SIGTERM.
# LIBSSH_DEMO is the command that starts the CLI (default: from JSR with Deno; or `npx libssh-demo`).
set -euo pipefail
demo_json=$(mktemp)
${LIBSSH_DEMO:-deno run -A jsr:@libssh/libssh/demo/cli} --password pw >"$demo_json" &
demo=$!
until [ -s "$demo_json" ]; do sleep 0.1; done
port=$(head -1 "$demo_json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["port"])')
sshpass -p pw ssh -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  -o PreferredAuthentications=password me@127.0.0.1 'echo hi from the DemoServer'
kill -TERM "$demo" # closes every connection, exits 0
wait "$demo"
rm -f "$demo_json"
