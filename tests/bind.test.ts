/**
 * Bind and listen(): the listening socket, its options, and how listen() ends.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { type AuthMethod, Bind, listen, SshError, SshKey } from "../mod.ts";
import { evalModule, moduleUrl, ssh2 } from "./support/clients.ts";
import { startServer } from "./support/test_server.ts";

test("port 0 gives a real port; bind.close() ends listen() at once", async () => {
  await using server = startServer();
  assert.ok(server.port > 0 && server.port < 65536);
  assert.equal(server.bind.port, server.port);
  const result = await ssh2({ port: server.port, password: "foo", command: "hello" });
  assert.deepEqual([result.stdout, result.code], ["ran: hello\n", 0]);
  const started = performance.now();
  await server.bind.close();
  await server.done;
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 100, `listen() took ${elapsed.toFixed(1)} ms to end`);
  await server.bind.close(); // idempotent
});

test("listen() ends when its signal aborts; the bind stays usable", async () => {
  using hostKey = SshKey.generate("ed25519");
  await using bind = new Bind({ port: 0, hostKey });
  const controller = new AbortController();
  const done = listen(() => {}, bind, { signal: controller.signal });
  controller.abort();
  await done;
  assert.equal(bind.isOpen, true);
  assert.throws(() => listen(() => {}, bind, { pollTimeout: 0 }), RangeError);
});

test("bad Bind options give clear errors", () => {
  using hostKey = SshKey.generate("ed25519");
  assert.throws(() => new Bind({ port: 70000, hostKey }), RangeError);
  // @ts-expect-error: the host key is required, in the types too
  assert.throws(() => new Bind({ port: 0 }), TypeError);
  assert.throws(() => new Bind({ port: 0, hostKey: hostKey.publicKey() }), TypeError);
  assert.throws(
    () => new Bind({ port: 0, hostKey: "/nonexistent/host_key" }),
    (e: unknown) =>
      e instanceof SshError && e.code === "io" &&
      e.message === "host key file /nonexistent/host_key not found",
  );
  const taken = new Bind({ port: 0, hostKey });
  assert.throws(
    () => new Bind({ port: taken.port, hostKey }),
    (e: unknown) => e instanceof SshError && e.code === "listen-failed" && /listen/.test(e.message),
  );
  void taken.close();
  assert.throws(() => new Bind({ port: 0, hostKey, authMethods: [999 as AuthMethod] }), TypeError);
});

test("closing the Bind leaves live sessions working until they end", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  await using server = startServer({
    onExec: (channel) => {
      void (async () => {
        await released;
        await channel.write("after bind close\n");
        await channel.sendExitStatus(0);
        await channel.close();
      })();
    },
  });
  const client = ssh2({ port: server.port, password: "foo", command: "wait" });
  while (server.sessions.length === 0 || !server.sessions[0].isAuthenticated) await sleep(10);
  await server.bind.close();
  await server.done;
  release();
  const result = await client;
  assert.equal(result.stdout, "after bind close\n");
});

test("a process whose server is closed exits by itself (no poll keeps it alive)", async () => {
  const script = `import { Bind, listen, SshKey } from ${
    JSON.stringify(moduleUrl(new URL("../mod", import.meta.url)).href)
  };
const bind = new Bind({ port: 0, hostKey: SshKey.generate("ed25519") });
const done = listen(() => {}, bind);
setTimeout(() => bind.close(), 100);
await done;
console.log("listen returned");`;
  const result = await evalModule(script, { timeoutMs: 10_000 });
  assert.equal(result.signal, null, "the process had to be killed: something kept it alive");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), "listen returned");
});
