import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServer } from "../src/demo/mod.ts";
import { processesMatching, settledCensus, takeCensus } from "./support/census.ts";
import { sshWithPassword } from "./support/clients.ts";
import { startEchoServer } from "./support/echo_server.ts";
import { injectFaults, stagesReached } from "./support/faults.ts";

test("a client killed while its command runs silently takes the command (and what it started) with it", async () => {
  await using ds = await DemoServer.start();
  const marker = String(process.pid) + String(Date.now() % 100000);
  // No output and no end of input: only the lost connection can tell the server to stop it.
  const client = spawn("node", [
    fileURLToPath(new URL("./support/ssh2_client.mjs", import.meta.url)),
    JSON.stringify({ port: ds.port, password: "foo", command: `sleep 600.${marker} & sleep 600.${marker}` }),
  ], { stdio: "ignore" });
  const exited = new Promise((resolve) => client.on("close", resolve));
  const sleepers = (): number =>
    processesMatching(marker).filter((entry) => entry.command.startsWith("sleep")).length;
  await settledCensus(() => sleepers() === 2);
  assert.equal(sleepers(), 2);
  process.kill(client.pid!, "SIGKILL");
  await exited;
  await settledCensus(() => processesMatching(marker).length === 0, { timeoutMs: 5000 });
  assert.deepEqual(processesMatching(marker), []);
  assert.ok(ds.timeline.some((entry) => entry.event === "disconnected" && entry.client === 1));
});

test("50 clients SIGKILLed mid-kex, -auth, -exec, -forward (both ways), -sftp: fds, processes and ports return", async () => {
  const dir = mkdtempSync(join(tmpdir(), "faults-"));
  try {
    await using echo = await startEchoServer();
    await using ds = await DemoServer.start({ cwd: dir });
    const warmUp = await sshWithPassword(ds.port, "foo", "echo warm");
    assert.equal(warmUp.stdout, "warm\n", warmUp.stderr);
    const before = takeCensus();
    const firstClient = ds.clients.length + 1;
    const marker = String(process.pid) + String(Date.now() % 100000);

    const report = await injectFaults({
      port: ds.port,
      password: "foo",
      echoPort: echo.port,
      count: 50,
      concurrency: 8,
      marker,
      dir,
    });
    assert.equal(report.faults, 50);
    const faulted = new Set(ds.clients.slice(firstClient - 1).map((client) => client.id));
    const stages = stagesReached(ds.timeline, faulted);

    const after = await settledCensus((census) =>
      census.fds <= before.fds && census.children <= before.children && census.zombies.length === 0 &&
      census.listeningPorts.join() === before.listeningPorts.join() && processesMatching(marker).length === 0
    );
    const figures = JSON.stringify({ report, stages, before, after });
    assert.ok(Math.abs(after.fds - before.fds) <= 2, figures);
    assert.equal(after.children, before.children, figures);
    assert.deepEqual(after.zombies, [], figures);
    assert.deepEqual(after.listeningPorts, before.listeningPorts, figures);
    assert.deepEqual(processesMatching(marker), [], figures);
    // The kills landed at different moments: not all before, not all after the login.
    assert.ok(Object.keys(stages).length >= 3, figures);

    const login = await sshWithPassword(ds.port, "foo", "echo still-serving");
    assert.equal(login.stdout, "still-serving\n", login.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("clients killed while their commands pour out output leave the server running", async () => {
  await using ds = await DemoServer.start();
  for (let i = 0; i < 10; i++) {
    const client = spawn("node", [
      fileURLToPath(new URL("./support/ssh2_client.mjs", import.meta.url)),
      JSON.stringify({ port: ds.port, password: "foo", command: "yes pouring-out" }),
    ], { stdio: "ignore" });
    const exited = new Promise((resolve) => client.on("close", resolve));
    for (let j = 0; j < 200 && !ds.timeline.some((e) => e.event === "exec" && e.client === i + 1); j++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 50 + 20 * i));
    process.kill(client.pid!, "SIGKILL");
    await exited;
  }
  const login = await sshWithPassword(ds.port, "foo", "echo still-serving");
  assert.equal(login.stdout, "still-serving\n", login.stderr);
});
