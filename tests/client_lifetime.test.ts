import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { ClientSession, connect, SshError } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { startSlowAgent } from "./support/agent.ts";
import { run } from "./support/clients.ts";
import { rejectsWith, scratch, sleep } from "./support/client_fixtures.ts";
import { closedPort } from "./support/echo_server.ts";
import { startSshd } from "./support/sshd.ts";

/** Every method of an object's prototype chain, except those allowed after close. */
function methodsOf(object: object, allowed: string[]): string[] {
  const names = new Set<string>();
  for (
    let proto = Object.getPrototypeOf(object);
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
      if (name !== "constructor" && typeof descriptor.value === "function" && !allowed.includes(name)) {
        names.add(name);
      }
    }
  }
  return [...names];
}

/** Calls each method with plausible arguments; lists those that did not throw or reject `closed`. */
async function notClosed(object: object, allowed: string[]): Promise<string[]> {
  const wrong: string[] = [];
  const methods = methodsOf(object, allowed);
  assert.ok(methods.length > 0);
  for (const method of methods) {
    let error: unknown;
    try {
      await (object as Record<string, (...args: unknown[]) => unknown>)[method](
        new Uint8Array(1),
        0,
        "x",
        {},
      );
    } catch (e) {
      error = e;
    }
    if (!(error instanceof SshError && error.code === "closed")) {
      wrong.push(`${object.constructor.name}.${method}() after close: ${error}`);
    }
  }
  return wrong;
}

/** A TCP server that accepts and never says anything (no SSH banner). */
async function silentServer(): Promise<{ port: number; [Symbol.asyncDispose](): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

test("connect failures: refused port and unknown name are connect-failed, a silent server is timeout, abort is aborted", async () => {
  const dead = await closedPort();
  const refused = await rejectsWith(
    connect({ host: "127.0.0.1", port: dead, hostKey: "insecure-accept-any" }),
    "connect-failed",
  );
  assert.match(refused.message, /refused/i);
  const unknown = await rejectsWith(
    connect({ host: "no-such-host.invalid", hostKey: "insecure-accept-any" }),
    "connect-failed",
  );
  assert.match(unknown.message, /no-such-host\.invalid/);
  await using silent = await silentServer();
  const started = Date.now();
  await rejectsWith(
    connect({ host: "127.0.0.1", port: silent.port, hostKey: "insecure-accept-any", connectTimeout: 300 }),
    "timeout",
  );
  assert.ok(Date.now() - started < 3000);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: silent.port,
      hostKey: "insecure-accept-any",
      signal: controller.signal,
    }),
    "aborted",
  );
});

test("abort during authentication (a slow agent) rejects at once with aborted", async () => {
  await using ds = await DemoServer.start();
  using tmp = scratch();
  await using agent = await startSlowAgent(tmp.dir, 2000);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  const started = Date.now();
  await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: ds.port,
      user: "tester",
      hostKey: { key: ds.hostKey },
      auth: { agent: agent.socket },
      signal: controller.signal,
    }),
    "aborted",
  );
  assert.ok(Date.now() - started < 1500, `aborted after ${Date.now() - started} ms`);
});

test("every method of ClientSession and ClientChannel throws SshError closed after close()", async () => {
  await using ds = await DemoServer.start();
  const ssh = await connect({
    host: "127.0.0.1",
    port: ds.port,
    user: "tester",
    hostKey: { key: ds.hostKey },
    auth: { password: "foo" },
  });
  const channel = await ssh.openSession();
  await channel.close();
  await channel.close();
  assert.deepEqual(await notClosed(channel, ["close"]), []);
  await ssh.close();
  await ssh.close();
  assert.deepEqual(await notClosed(ssh, ["close", "getError"]), []);
  assert.equal(ssh.getError(), "");
  assert.equal(ssh.isConnected, false);

  const never = new ClientSession({ host: "127.0.0.1", port: ds.port });
  await never.close();
  assert.deepEqual(await notClosed(never, ["close", "getError"]), []);
});

test("close() while a command runs: its promises reject closed, the server sees the client go", async () => {
  await using ds = await DemoServer.start();
  const ssh = await connect({
    host: "127.0.0.1",
    port: ds.port,
    user: "tester",
    hostKey: { key: ds.hostKey },
    auth: { password: "foo" },
  });
  const running = ssh.run("sleep 30");
  running.catch(() => {});
  await sleep(200);
  await ssh.close();
  await rejectsWith(running, "closed");
  await sleep(100);
  assert.ok(ds.timeline.some((entry) => entry.event === "disconnected"));
});

/** The processes under `pid`. */
async function descendants(pid: number): Promise<number[]> {
  const children = (await run("pgrep", ["-P", String(pid)])).stdout.split("\n").filter(Boolean).map(Number);
  const all: number[] = [];
  for (const child of children) all.push(child, ...await descendants(child));
  return all;
}

test("the server killed mid-exec: run, the process's exit and its streams reject with disconnected", async () => {
  await using sshd = await startSshd();
  await using ssh = await connect({
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
  });
  const running = ssh.run("sleep 30");
  running.catch(() => {});
  const spawned = await ssh.spawn("sleep 30");
  const output = new Response(spawned.stdout).text();
  output.catch(() => {});
  await sleep(300);
  for (const pid of await descendants(sshd.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* gone already: a session process ended with its parent */ }
  }
  await rejectsWith(running, "disconnected");
  await rejectsWith(spawned.exited, "disconnected");
  await rejectsWith(output, "disconnected");
  await ssh.disconnected;
  await rejectsWith(ssh.run("true"), "disconnected");
  assert.equal(ssh.isConnected, false);
});

test("200 connect/close cycles leave no file descriptor behind", async () => {
  await using ds = await DemoServer.start();
  const options = {
    host: "127.0.0.1",
    port: ds.port,
    user: "tester",
    hostKey: { key: ds.hostKey },
    auth: { password: "foo" },
  };
  const openFds = (): number => readdirSync("/proc/self/fd").length;
  await (await connect(options)).close(); // the reactor's own descriptors exist from here on
  await sleep(100);
  const before = openFds();
  for (let i = 0; i < 200; i++) {
    const ssh = await connect(options);
    if (i % 50 === 0) assert.equal((await ssh.run("echo x")).stdoutText, "x\n");
    await ssh.close();
  }
  await sleep(300); // the server side notices the last ones leave
  const after = openFds();
  assert.ok(
    after - before <= 2,
    `${after - before} descriptors more after 200 cycles (${before} → ${after})`,
  );
});
