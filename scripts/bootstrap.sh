#!/usr/bin/env bash
# Installs what the demo and the test suite need, and nothing when all is there:
# the system packages (libssh, real SSH clients for the tests) and the npm dev
# tools (Deno, TypeScript, koffi, ssh2). Idempotent; safe to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  libssh-4 libssh-dev             # the library and the headers constants are generated from
  openssh-client sshpass          # ssh, sftp, ssh-keygen; password logins in tests
  openssh-sftp-server             # the DemoServer's SFTP subsystem
  openssh-server                  # a private sshd for the client tests (dropbear-bin below: a second server)
  python3-paramiko python3-asyncssh  # Python clients used by the tests
  python3-pytest                  # runs examples/pytest
  cmake make gcc libssl-dev zlib1g-dev  # build libssh 0.11/0.12 (scripts/test_libssh_versions.sh); gcc: tests/structs.test.ts
  putty-tools dropbear-bin        # plink and dbclient, clients that try keyboard-interactive first
)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when node_modules does not match package-lock.json.
stamp=node_modules/.bootstrap-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/deno ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$stamp"
fi
