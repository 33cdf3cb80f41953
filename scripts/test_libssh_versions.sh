#!/usr/bin/env bash
# The Deno test suite and the Deno examples again, on each newer libssh release that distributions ship
# (Debian 13, Fedora and Homebrew have 0.11 and 0.12; the main suite runs on the system libssh, 0.10.6 on
# Debian 12). Each release is built once from its upstream archive into .cache/libssh/<version>/ (gitignored)
# and loaded through LIBSSH_PATH; tests/structs.test.ts reads that version's headers through LIBSSH_INCLUDE.
#
# The archives come from ../shared/vendor (beside the project's folder), or LIBSSH_VENDOR_DIR. A missing
# archive fails the run in CI (CI=true) and is skipped, loudly, elsewhere. A wrong sha256 always fails.
#
#   bash scripts/test_libssh_versions.sh            # every release below
#   bash scripts/test_libssh_versions.sh 0.12.2     # only the ones named
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
deno=$root/node_modules/.bin/deno
[ -x "$deno" ] || deno=$(command -v deno)

# version and sha256 of libssh-<version>.tar.gz (git archive of the upstream tag)
releases=(
  "0.11.5 02b78f82f9cc8a6003c1339f58ea234a6f1ad2b4c59f9771a21e5c9807a5028e"
  "0.12.2 b08797e80f818cfd94f2184e98eca546f1800fe8a7b14b89ebee63e45aee6fb3"
)
vendor=${LIBSSH_VENDOR_DIR:-$root/../shared/vendor}
cache=$root/.cache/libssh
export NO_COLOR=1 # plain `deno test` summaries, read back for the report at the end

say() { printf '\n== libssh versions: %s\n' "$*" >&2; }
fail() {
  printf '\nlibssh versions: FAILED: %s\n' "$*" >&2
  exit 1
}

# Builds release $1 into $cache/$1 (lib/ and include/ only) unless a finished build is there. The build
# itself happens outside the repository: its CMake files would be read by `deno check`.
build() {
  local version=$1 sha=$2 archive=$3
  local dir=$cache/$version
  if [ "$(cat "$dir/built" 2>/dev/null)" = "$sha" ]; then return; fi
  say "building libssh $version into ${dir#"$root"/} (once; about a minute per release on 2 cores)"
  local work log
  work=$(mktemp -d)
  log=$work/build.log
  tar -xzf "$archive" -C "$work"
  cmake -S "$work/libssh-$version" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DWITH_GSSAPI=OFF \
    -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF -DWITH_SERVER=ON -DWITH_SFTP=ON >"$log" 2>&1 ||
    fail "cmake of libssh $version (see $log)"
  make -C "$work/build" -j2 ssh >>"$log" 2>&1 || fail "make of libssh $version (see $log)"
  rm -rf "$dir"
  mkdir -p "$dir/lib"
  cp -P "$work"/build/lib/libssh.so* "$dir/lib/"
  # The public headers as installed (libssh_version.h is generated), for tests/structs.test.ts.
  cmake --install "$work/build" --component headers --prefix "$dir" >>"$log" 2>&1 ||
    fail "header install of libssh $version (see $log)"
  rm -rf "$work"
  echo "$sha" >"$dir/built"
}

# The counts of a `deno test` run's summary line ("ok | 72 passed (8 steps) | 0 failed (53s)" gives
# "72 passed (8 steps), 0 failed").
test_summary() { grep -E '^(ok|FAILED) \| ' "$1" | tail -1 | sed -E 's/^(ok|FAILED) \| //; s/ \| /, /; s/ \([0-9hms.]+\)$//' || true; }

wanted=("$@")
for version in "${wanted[@]}"; do
  [[ " ${releases[*]} " == *" $version "* ]] || fail "libssh $version is not one of the releases listed in $0"
done
results=()
skipped=()
started=$SECONDS
for release in "${releases[@]}"; do
  read -r version sha <<<"$release"
  if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $version "* ]]; then continue; fi
  archive=$vendor/libssh-$version.tar.gz
  if [ ! -f "$archive" ]; then
    if [ "${CI:-}" = "true" ]; then
      fail "$archive is missing: CI must test libssh $version (set LIBSSH_VENDOR_DIR to the folder holding libssh-$version.tar.gz)"
    fi
    skipped+=("$version")
    printf '\n!!!!!! libssh versions: SKIPPED libssh %s: %s is missing (set LIBSSH_VENDOR_DIR) !!!!!!\n' \
      "$version" "$archive" >&2
    continue
  fi
  actual=$(sha256sum "$archive" | cut -d' ' -f1)
  [ "$actual" = "$sha" ] || fail "$archive has sha256 $actual, expected $sha"
  build "$version" "$sha" "$archive"

  export LIBSSH_PATH=$cache/$version/lib/libssh.so.4 LIBSSH_INCLUDE=$cache/$version/include/libssh
  loaded=$("$deno" eval 'import { libsshVersion } from "./ffi/load.ts"; console.log(libsshVersion());')
  [[ "$loaded" == "$version/"* ]] || fail "LIBSSH_PATH=$LIBSSH_PATH loaded libssh $loaded, not $version"
  say "ssh_version() = $loaded: deno test"
  log=$cache/$version/test.log
  run_start=$SECONDS
  status=0
  "$deno" test --quiet --allow-all --v8-flags=--expose-gc tests/ 2>&1 | tee "$log" || status=$?
  tests=$(test_summary "$log")
  [ "$status" -eq 0 ] || fail "deno test on libssh $loaded: ${tests:-exit $status}"
  say "ssh_version() = $loaded: examples (deno test examples/deno/, pytest, the shell script)"
  "$deno" test --quiet --allow-all examples/deno/ 2>&1 | tee "$log" || fail "examples/deno on libssh $loaded"
  examples=$(test_summary "$log")
  LIBSSH_DEMO="$deno run -A src/demo/cli.ts" /usr/bin/python3 -m pytest -q -p no:cacheprovider examples/pytest 2>&1 |
    tee "$log" ||
    fail "examples/pytest on libssh $loaded"
  pytest=$(tail -1 "$log" | sed -E 's/ in [0-9.]+s$//')
  LIBSSH_DEMO="$deno run -A src/demo/cli.ts" bash examples/shell/demo_server.sh || fail "examples/shell on libssh $loaded"
  results+=("libssh $loaded in $((SECONDS - run_start))s: tests/ $tests; examples/deno $examples; examples/pytest $pytest; examples/shell ok")
  unset LIBSSH_PATH LIBSSH_INCLUDE
done

say "summary ($((SECONDS - started))s)"
for line in "${results[@]}"; do echo "  PASSED on $line" >&2; done
for version in "${skipped[@]}"; do echo "  SKIPPED libssh $version (archive missing)" >&2; done
