import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, scriptCommand } from "./support/clients.ts";
import { repositoryPath } from "./support/repository.ts";

// examples/pytest/conftest.py is meant to be copied into other projects: run it from a copy.
// (Its default command, the npm package's bin, is run by scripts/npm_smoke.sh where the package is installed.)

/** A folder outside the checkout with a copy of the fixture and its example tests. */
function copiedFixture(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-pytest-"));
  for (const file of ["conftest.py", "test_demo_server.py"]) {
    copyFileSync(repositoryPath(`examples/pytest/${file}`), join(dir, file));
  }
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The command that starts this checkout's CLI, as LIBSSH_DEMO takes it. */
const cliCommand = (...args: string[]): string =>
  scriptCommand(new URL("../src/demo/cli", import.meta.url), args).flat().join(" ");

const pytest = (dir: string, env: Record<string, string>) =>
  run("/usr/bin/python3", ["-m", "pytest", "-q", "-p", "no:cacheprovider"], {
    cwd: dir,
    env,
    timeoutMs: 120_000,
  });

test("the pytest fixture, copied outside the checkout, serves its tests (LIBSSH_DEMO)", async () => {
  using copy = copiedFixture();
  const result = await pytest(copy.dir, { LIBSSH_DEMO: cliCommand() });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /2 passed/);
});

test("a CLI that fails to start: the fixture shows its stderr, not a JSONDecodeError", async () => {
  using copy = copiedFixture();
  writeFileSync(join(copy.dir, "test_demo_server.py"), "def test_uses_it(demo_server):\n    pass\n");
  const result = await pytest(copy.dir, { LIBSSH_DEMO: cliCommand("--port", "70000") });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /the DemoServer CLI did not start/);
  assert.match(result.stdout, /--port must be a number from 0 to 65535, not 70000/, "the CLI's own message");
  assert.doesNotMatch(result.stdout, /JSONDecodeError/);
});

test("no CLI anywhere: the fixture says how to get one", async () => {
  using copy = copiedFixture();
  const result = await pytest(copy.dir, { LIBSSH_DEMO: "", PATH: "/usr/bin:/bin" });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /no DemoServer CLI found: `npm install` the libssh package .* set LIBSSH_DEMO/);
});
