import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { Bind, SshError, SshKey } from "../mod.ts";
import { startBackground } from "./support/background.ts";
import { moduleUrl, scriptCommand, sshWithPassword } from "./support/clients.ts";

const CLI = new URL("../src/demo/cli", import.meta.url);

test("reusePort: two Binds share a port; without it the second one is refused", async () => {
  const hostKey = SshKey.generate("ed25519");
  await using first = new Bind({ hostKey, reusePort: true });
  await using second = new Bind({ hostKey, port: first.port, reusePort: true });
  assert.equal(second.port, first.port);
  assert.throws(
    () => new Bind({ hostKey, port: first.port }),
    (error) => error instanceof SshError && error.code === "listen-failed",
  );
  assert.throws(() => new Bind({ hostKey, reusePort: "yes" as unknown as boolean }), TypeError);
  hostKey.close();
});

test("CLI --reuse-port: two server processes on one port both serve connections", async () => {
  const [command, args] = scriptCommand(CLI, ["--reuse-port", "--password", "pw"]);
  await using first = startBackground(command, args);
  const port = Number((await first.waitFor(/"port":(\d+)/, 30_000))[1]);
  const [secondCommand, secondArgs] = scriptCommand(CLI, [
    "--reuse-port",
    "--port",
    String(port),
    "--password",
    "pw",
  ]);
  await using second = startBackground(secondCommand, secondArgs);
  assert.equal(Number((await second.waitFor(/"port":(\d+)/, 30_000))[1]), port);
  // Each command reports the process that spawned it: the server that took the connection.
  const servedBy = new Set<number>();
  for (let batch = 0; batch < 4; batch++) {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => sshWithPassword(port, "pw", "echo $PPID")),
    );
    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      servedBy.add(Number(result.stdout.trim()));
    }
  }
  assert.deepEqual([...servedBy].sort(), [first.child.pid, second.child.pid].sort());
});

test("examples/every_core.ts: the processes it starts all serve its port", async () => {
  const [command, args] = scriptCommand(new URL("../examples/every_core", import.meta.url), ["2"]);
  await using launcher = startBackground(command, args);
  const { port, pids } = JSON.parse((await launcher.waitFor(/\{"port".*\}/, 60_000))[0]);
  assert.equal(pids.length, 2);
  const servedBy = new Set<number>();
  const results = await Promise.all(
    Array.from({ length: 24 }, () => sshWithPassword(port, "foo", "echo $PPID")),
  );
  for (const result of results) servedBy.add(Number(result.stdout.trim()));
  assert.deepEqual([...servedBy].sort(), [...pids].sort());
});

test("worker threads each load libssh and serve one port (reusePort)", async () => {
  const script = moduleUrl(new URL("./support/serve_worker", import.meta.url));
  const reply = <T>(worker: Worker): Promise<T> =>
    new Promise((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  const first = new Worker(script, { workerData: { port: 0 } });
  const { port } = await reply<{ port: number }>(first);
  const second = new Worker(script, { workerData: { port } });
  try {
    assert.equal((await reply<{ port: number }>(second)).port, port);
    const results = await Promise.all(
      Array.from({ length: 24 }, () => sshWithPassword(port, "pw", "head -c 100000 /dev/zero | wc -c")),
    );
    for (const result of results) assert.equal(result.stdout.trim(), "100000", result.stderr);
    const counts: number[] = [];
    for (const worker of [first, second]) {
      worker.postMessage("count");
      counts.push((await reply<{ clients: number }>(worker)).clients);
    }
    assert.equal(counts[0] + counts[1], 24);
    assert.ok(counts[0] > 0 && counts[1] > 0, `connections reached one worker only: ${counts}`);
  } finally {
    // A worker's server is closed before the thread ends (see the README, "Using every core").
    for (const worker of [first, second]) {
      worker.postMessage("close");
      await reply(worker);
      await worker.terminate();
    }
  }
});
