/**
 * SessionEvent: polling one session, and what waiting costs when nothing
 * happens.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { AuthStatus, Bind, listen, ServerCallbacks, SessionEvent, SshError, SshKey } from "../mod.ts";
import { ssh2 } from "./support/clients.ts";
import { execChannel, startServer } from "./support/test_server.ts";

test("SessionEvent: doPoll, isAssigned, close is idempotent and stops processing", async () => {
  using hostKey = SshKey.generate("ed25519");
  await using bind = new Bind({ port: 0, hostKey });
  const polls: number[] = [];
  const done = listen(async (session) => {
    session.setServerCallbacks(
      new ServerCallbacks(undefined, {
        onAuthPassword: () => AuthStatus.Success,
        onChannelOpenRequestSession: (s) =>
          execChannel(s, (ch, command) => {
            void ch.write(`${command}\n`).then(() => ch.sendExitStatus(0)).then(() => ch.close());
          }),
      }),
    );
    assert.equal(await session.handleKeyExchange(), true);
    const event = new SessionEvent(session);
    assert.equal(event.isAssigned, true);
    assert.throws(() => new SessionEvent(session), TypeError);
    let rc: number;
    while ((rc = await event.doPoll()) === 0) polls.push(rc);
    event.close();
    event.close({ unsafe: true });
    assert.equal(event.isAssigned, false);
    await assert.rejects(event.doPoll(), (e: unknown) => e instanceof SshError && e.code === "closed");
  }, bind);
  const result = await ssh2({ port: bind.port, password: "x", command: "polled" });
  assert.equal(result.stdout, "polled\n");
  await bind.close();
  await done;
  assert.ok(polls.length > 3, `doPoll resolved ${polls.length} times`);
});

test("50 authenticated idle sessions cost the server almost no CPU", async () => {
  await using server = startServer({ onExec: () => {} });
  const child = spawn("node", [
    fileURLToPath(new URL("./support/ssh2_client.mjs", import.meta.url)),
    JSON.stringify({ mode: "idle", port: server.port, password: "foo", count: 50, seconds: 4 }),
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes('"ready"') ? resolve() : undefined);
    child.on("exit", () => reject(new Error("idle client exited early")));
  });
  assert.equal(server.sessions.filter((s) => s.isAuthenticated).length, 50);
  await sleep(200);
  const before = process.cpuUsage();
  await sleep(2000);
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000;
  assert.ok(ms < 50, `idle server used ${ms.toFixed(1)} ms CPU in 2 s`);
  await exited;
});
