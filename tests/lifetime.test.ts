import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import {
  AuthStatus,
  Bind,
  ServerCallbacks,
  SessionEvent,
  type SshChannel,
  SshError,
  SshKey,
} from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { ssh2 } from "./support/clients.ts";
import { startServer } from "./support/test_server.ts";

/** Every method on a class's prototype (own and inherited), except what is fine after close. */
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

/** Calls `method` with plausible arguments; resolves to what it threw or rejected with. */
async function failureOf(object: Record<string, unknown>, method: string): Promise<unknown> {
  const plausible = [new Uint8Array(1), 0, "x", {}];
  try {
    await (object[method] as (...args: unknown[]) => unknown).call(object, ...plausible);
  } catch (error) {
    return error;
  }
  return undefined;
}

async function assertAllClosed(object: object, allowed: string[]): Promise<number> {
  const methods = methodsOf(object, allowed);
  assert.ok(methods.length > 0);
  const wrong: string[] = [];
  for (const method of methods) {
    const error = await failureOf(object as Record<string, unknown>, method);
    if (!(error instanceof SshError && error.code === "closed")) {
      wrong.push(`${object.constructor.name}.${method}() after close: ${error}`);
    }
  }
  assert.deepEqual(wrong, []);
  return methods.length;
}

/** Methods that are fine after close: closing again, and reading the error text. */
const ALWAYS_FINE = ["close", "unlock", "getError"];

test("every method of SshKey, Bind, Session, SshChannel and SessionEvent throws SshError closed after close()", async () => {
  const key = SshKey.generate("ed25519");
  key.close();
  key.close();
  let checked = await assertAllClosed(key, ALWAYS_FINE);

  const bind = new Bind({ hostKey: SshKey.generate("ed25519") });
  await bind.close();
  await bind.close();
  checked += await assertAllClosed(bind, ["close", "unlock"]);

  let channel: SshChannel | undefined;
  let event: SessionEvent | undefined;
  await using server = startServer({
    onExec: (ch, command) => {
      channel = ch;
      event = server.events.at(-1);
      void ch.write(`${command}\n`).then(() => ch.sendExitStatus(0)).then(() => ch.close());
    },
  });
  const result = await ssh2({ port: server.port, password: "foo", command: "hello" });
  assert.equal(result.stdout, "hello\n");
  const session = server.sessions[0];
  await session.close();
  await session.close();
  checked += await assertAllClosed(session, ALWAYS_FINE);
  assert.ok(channel);
  await channel.close();
  checked += await assertAllClosed(channel, ALWAYS_FINE);
  assert.throws(
    () => new SessionEvent(session),
    (e: unknown) => e instanceof SshError && e.code === "closed",
  );
  assert.ok(event);
  event.close();
  event.close();
  checked += await assertAllClosed(event, ["close"]);
  assert.ok(checked > 15, `${checked} methods checked`);
});

test("DemoServer: close() twice, then its bind is closed too", async () => {
  const ds = await DemoServer.start();
  await ds.close();
  await ds.close();
  assert.equal(ds.bind.isOpen, false);
  await assertAllClosed(ds.bind, ["close", "unlock"]);
});

test("Binds dropped without close() give their sockets back after garbage collection", async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run the tests with --expose-gc (deno: --v8-flags=--expose-gc)");
  const openFds = (): number => readdirSync("/proc/self/fd").length;
  const hostKey = SshKey.generate("ed25519");
  const before = openFds();
  for (let i = 0; i < 300; i++) new Bind({ hostKey });
  const afterLoop = openFds();
  assert.ok(afterLoop >= before + 300, `each Bind holds a socket (${before} → ${afterLoop})`);
  for (let round = 0; round < 20 && openFds() > before + 10; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(openFds() <= before + 10, `open descriptors after GC: ${openFds()} (before ${before})`);
  hostKey.close();
});

test("closing the Bind inside its message callback, and a Session inside its auth callback", async () => {
  await using server = startServer({
    messageCallback: () => {
      void server.bind.close();
      return true;
    },
    serverCallbacks: (session) =>
      new ServerCallbacks(undefined, {
        onAuthPassword: () => {
          void session.close();
          return AuthStatus.Denied;
        },
      }),
  });
  const kicked = await ssh2({ port: server.port, password: "foo", command: "true" });
  assert.equal(kicked.ok, false);
  await server.done; // listen() ended: the bind was closed from inside its own callback
  assert.equal(server.bind.isOpen, false);
  assert.deepEqual(server.errors, []);
});
