import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServer } from "../src/demo/mod.ts";
import {
  AuthMethod,
  AuthStatus,
  Bind,
  listen,
  ServerCallbacks,
  type Session,
  SessionEvent,
  SshError,
  SshKey,
} from "../mod.ts";
import { startBackground } from "./support/background.ts";
import { DENO, evalModule, moduleUrl, run, sshpassArgs } from "./support/clients.ts";
import { repositoryPath } from "./support/repository.ts";

// The usual mistakes of a first hour with the library: each gets a message that names its fix.

test("a forgotten await on DemoServer.start(): reading the Promise's fields says to await it", async () => {
  const started = DemoServer.start();
  const asPlainJavaScriptSeesIt = started as unknown as Record<string, unknown>;
  for (const name of ["port", "host", "close", "timeline", "clients", "knownHostsLine"]) {
    assert.throws(
      () => asPlainJavaScriptSeesIt[name],
      new RegExp(`DemoServer\\.start\\(\\) returns a Promise: await it before reading \\.${name} `),
    );
  }
  assert.throws(
    () => (started as unknown as AsyncDisposable)[Symbol.asyncDispose],
    /await it before `await using` it/,
  );
  assert.deepEqual(Object.keys(started), [], "the hints are not enumerable");
  await using ds = await started; // the Promise itself works as ever
  assert.ok(ds.port > 0);
});

test("process.exit() with a server still listening exits (Node waited forever on its polling thread)", async () => {
  const demo = moduleUrl(new URL("../src/demo/mod", import.meta.url));
  const result = await evalModule(
    `import { DemoServer } from ${JSON.stringify(demo.href)};
const ds = await DemoServer.start();
console.log(ds.port > 0 ? "listening" : "no port");
process.exit(3);`,
    { timeoutMs: 15_000 },
  );
  assert.equal(result.stdout, "listening\n", result.stderr);
  assert.equal(result.code, 3, `exit code ${result.code}, signal ${result.signal}: killed after 15 s`);
});

test("DemoServer.start() rejects (not throws) when it cannot start", async () => {
  const started = DemoServer.start({ port: 70000 });
  assert.ok(started instanceof Promise);
  await assert.rejects(started, RangeError);
});

/** Asserts that `promise` rejects with an SshError of `code` whose message is `message`. */
async function rejectsWith(promise: Promise<unknown>, code: string, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SshError, String(error));
    assert.equal(error.code, code);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

test("key files that are missing or wrong: an SshError names the file and what is wrong", async () => {
  const dir = mkdtempSync(join(tmpdir(), "libssh-mistakes-"));
  try {
    const missing = join(dir, "missing");
    await rejectsWith(DemoServer.start({ hostKey: missing }), "io", `host key file ${missing} not found`);
    await rejectsWith(
      DemoServer.start({ authorizedKeys: missing }),
      "io",
      `authorized keys file ${missing} not found`,
    );
    assert.throws(() => new Bind({ hostKey: missing }), { name: "SshError", code: "io" });
    await rejectsWith(DemoServer.start({ hostKey: dir }), "io", `host key file ${dir} is a directory`);

    const key = join(dir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    assert.throws(() => new Bind({ hostKey: `${key}.pub` }), /holds a public key: give the private key file/);
    const garbage = join(dir, "garbage");
    writeFileSync(garbage, "not a key\n");
    await rejectsWith(
      DemoServer.start({ hostKey: garbage }),
      "invalid-key",
      /^host key file .* is no private key/,
    );
    const authorized = join(dir, "authorized_keys");
    writeFileSync(authorized, `# mine\n\n${"ssh-ed25519 AAAA-broken me@host"}\n`);
    await rejectsWith(
      DemoServer.start({ authorizedKeys: authorized }),
      "invalid-key",
      /^authorized keys file .*authorized_keys, line 3: /,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("deno doc shows every optional argument as optional (no default values in public signatures)", async () => {
  // A parameter with a default value (`options: X = {}`) is rendered as required: `options: X`.
  for (const entry of ["mod.ts", "src/demo/mod.ts"]) {
    const result = await run(DENO, ["doc", "--json", repositoryPath(entry)], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    const defaults: string[] = [];
    const visit = (node: unknown, where: string): void => {
      if (Array.isArray(node)) node.forEach((child) => visit(child, where));
      else if (node && typeof node === "object") {
        const record = node as Record<string, unknown>;
        const name = typeof record.name === "string" ? `${where}.${record.name}` : where;
        if (record.kind === "assign") defaults.push(name);
        for (const child of Object.values(record)) visit(child, name);
      }
    };
    visit(JSON.parse(result.stdout), entry);
    assert.deepEqual(defaults, [], `parameters with defaults in ${entry}`);
  }
});

/**
 * Serves one OpenSSH client with `handler` (the client logs in without a command, `ssh -N`, and
 * stays), and returns what `onError` heard within `sessionEventGrace: 300`, and whether the session
 * was logged in and connected at the end.
 */
async function reportsOf(
  handler: (session: Session) => Promise<void>,
): Promise<{ reports: string[]; loggedIn: boolean }> {
  using hostKey = SshKey.generate("ed25519");
  await using bind = new Bind({ hostKey, authMethods: [AuthMethod.Password] });
  const reports: string[] = [];
  const sessions: Session[] = [];
  let reported!: () => void;
  const first = new Promise<void>((resolve) => reported = resolve);
  const done = listen(
    (session) => {
      sessions.push(session);
      return handler(session);
    },
    bind,
    {
      sessionEventGrace: 300,
      onError: (error) => {
        reports.push(String(error));
        reported();
      },
    },
  );
  await using _client = startBackground("sshpass", sshpassArgs(bind.port, "foo", "", ["-N"]));
  await Promise.race([first, new Promise((resolve) => setTimeout(resolve, 1500))]);
  const loggedIn = sessions.length === 1 && sessions[0].isConnected && sessions[0].isAuthenticated;
  await bind.close();
  await Promise.all(sessions.map((session) => session.close()));
  await done;
  return { reports, loggedIn };
}

const passwordFoo = (): ServerCallbacks<undefined> =>
  new ServerCallbacks(undefined, {
    onAuthPassword: (_s, _u, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
  });

test("a handler that forgets the SessionEvent: onError says so and how to fix it", async () => {
  const { reports, loggedIn } = await reportsOf(async (session) => {
    session.setServerCallbacks(passwordFoo());
    if (!await session.handleKeyExchange()) return;
    await session.disconnected; // no SessionEvent: nothing answers the client's login
  });
  assert.equal(loggedIn, false);
  assert.equal(reports.length, 1, String(reports));
  assert.match(
    reports[0],
    /not processed 300 ms after listen\(\) handed it over: its key exchange is done but it has no SessionEvent/,
  );
  assert.match(reports[0], /using _event = new SessionEvent\(session\)/);
});

test("a handler that never runs the key exchange: onError says so", async () => {
  const { reports } = await reportsOf(async (session) => {
    await session.disconnected;
  });
  assert.equal(reports.length, 1, String(reports));
  assert.match(reports[0], /the handler did not call session\.handleKeyExchange\(\)/);
});

test("a handler that processes its session is not reported", async () => {
  const { reports, loggedIn } = await reportsOf(async (session) => {
    session.setServerCallbacks(passwordFoo());
    if (!await session.handleKeyExchange()) return;
    using _event = new SessionEvent(session);
    await session.disconnected;
  });
  assert.deepEqual(reports, []);
  assert.equal(loggedIn, true, "the client stayed, logged in, past the grace time");
});

test("calls out of order are TypeErrors, not libssh failures: unlock() unlocked, listen() twice, two SessionEvents", async () => {
  await using bind = new Bind({ port: 0, hostKey: SshKey.generate("ed25519") });
  assert.throws(() => bind.unlock(), { name: "TypeError", message: "the bind is not locked" });
  const first = listen(() => {}, bind);
  assert.throws(() => listen(() => {}, bind), {
    name: "TypeError",
    message: "listen() is already running on this bind",
  });
  await bind.close();
  await first;

  let second: unknown;
  const { loggedIn } = await reportsOf(async (session) => {
    session.setServerCallbacks(passwordFoo());
    if (!await session.handleKeyExchange()) return;
    using _event = new SessionEvent(session);
    try {
      using _again = new SessionEvent(session);
    } catch (error) {
      second = error;
    }
    await session.disconnected;
  });
  assert.equal(loggedIn, true, "the first event still processes the session");
  assert.ok(second instanceof TypeError && !(second instanceof SshError), String(second));
  assert.equal(second.message, "the session already has a SessionEvent");
});
