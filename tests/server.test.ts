import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AuthMethod,
  AuthStatus,
  Bind,
  listen,
  type Message,
  RequestType,
  ServerCallbacks,
  SessionEvent,
  SshChannel,
  SshError,
  SshKey,
} from "../mod.ts";
import {
  evalModule,
  moduleUrl,
  python,
  scriptCommand,
  ssh2,
  sshpassArgs,
  sshWithKey,
  sshWithPassword,
} from "./support/clients.ts";
import { execChannel, startServer } from "./support/test_server.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-server-test-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

function keygen(dir: string, name: string): string {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
  return file;
}

function assertClosed(fn: () => unknown, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SshError && e.code === "closed", what);
}

const PARAMIKO_EXEC = `
import sys, paramiko
port, mode, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = paramiko.Transport(("127.0.0.1", port)); t.start_client(timeout=10)
try:
    if mode == "password": t.auth_password("tester", secret)
    elif mode == "kbdint": t.auth_interactive("tester", lambda title, instr, prompts: secret.split(",")[:len(prompts)])
    else: t.auth_publickey("tester", paramiko.Ed25519Key.from_private_key_file(secret))
except paramiko.AuthenticationException:
    print("denied"); sys.exit(0)
ch = t.open_session(); ch.exec_command("echo via-paramiko; exit 7")
out = ch.makefile().read().decode(); status = ch.recv_exit_status()
print(out.strip(), status); t.close()
`;

test("examples/server.ts serves OpenSSH, ssh2 and paramiko clients", async () => {
  using tmp = tempDir();
  const key = keygen(tmp.dir, "id_authorized");
  const stranger = keygen(tmp.dir, "id_stranger");
  const [command, args] = scriptCommand(new URL("../examples/server", import.meta.url), ["0", `${key}.pub`]);
  const server = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let text = "";
      server.stdout.on("data", (d) => {
        text += d;
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
        if (match) resolve(Number(match[1]));
      });
      server.on("exit", (code) => reject(new Error(`example exited with ${code}`)));
    });

    const quoted = await sshWithPassword(port, "foo", `printf '%s\\n' "a b" 'c"d'; echo err >&2; exit 3`);
    assert.equal(quoted.stdout, 'a b\nc"d\n');
    assert.equal(quoted.stderr, "err\n");
    assert.equal(quoted.code, 3);
    const echoed = await sshWithPassword(port, "foo", "cat", { input: "stdin reaches the command\n" });
    assert.equal(echoed.stdout, "stdin reaches the command\n");
    assert.notEqual((await sshWithPassword(port, "wrong", "true")).code, 0);
    assert.equal((await sshWithKey(port, key, "echo by-key")).stdout, "by-key\n");
    assert.equal((await sshWithKey(port, stranger, "echo by-key")).code, 255);

    const viaSsh2 = await ssh2({ port, password: "foo", command: "echo via-ssh2; exit 5" });
    assert.deepEqual([viaSsh2.ok, viaSsh2.stdout, viaSsh2.code], [true, "via-ssh2\n", 5]);
    const kbdint = await ssh2({ port, kbdAnswers: ["foo", "bar"], command: "echo kbdint" });
    assert.equal(kbdint.stdout, "kbdint\n");
    const badKbdint = await ssh2({ port, kbdAnswers: ["foo", "nope"], command: "echo no" });
    assert.equal(badKbdint.ok, false);
    assert.equal((await ssh2({ port, privateKeyPath: key, command: "echo key" })).stdout, "key\n");
    assert.equal((await ssh2({ port, privateKeyPath: stranger, command: "echo no" })).ok, false);
    assert.equal((await ssh2({ port, password: "wrong", command: "echo no" })).ok, false);

    for (
      const [mode, secret, expected] of [
        ["password", "foo", "via-paramiko 7"],
        ["password", "wrong", "denied"],
        ["kbdint", "foo,bar", "via-paramiko 7"],
        ["kbdint", "foo,baz", "denied"],
        ["pubkey", key, "via-paramiko 7"],
        ["pubkey", stranger, "denied"],
      ]
    ) {
      const result = await python(PARAMIKO_EXEC, [String(port), mode, secret]);
      assert.equal(result.stdout.trim(), expected, `paramiko ${mode} ${secret}: ${result.stderr}`);
    }
  } finally {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.exitCode === null ? server.on("exit", resolve) : resolve(null));
  }
});

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

test("throwing, rejecting or garbage-returning auth callbacks deny, and are reported", async () => {
  using tmp = tempDir();
  const key = keygen(tmp.dir, "id");
  const behaviours: [string, () => unknown][] = [
    ["throws", () => {
      throw new Error("boom");
    }],
    ["rejects", () => Promise.resolve(AuthStatus.Success)],
    ["returns garbage", () => "yes"],
    ["returns undefined", () => undefined],
    ["returns Info", () => AuthStatus.Info],
  ];
  for (const [label, behaviour] of behaviours) {
    const fn = behaviour as () => AuthStatus;
    await using server = startServer({
      authMethods: [AuthMethod.Password, AuthMethod.PublicKey, AuthMethod.None],
      serverCallbacks: () =>
        new ServerCallbacks(undefined, {
          onAuthPassword: fn,
          onAuthNone: fn,
          onAuthPubkey: fn,
          onChannelOpenRequestSession: (s) => execChannel(s, () => {}),
        }),
    });
    const byPassword = await sshWithPassword(server.port, "foo", "true");
    assert.notEqual(byPassword.code, 0, `password, callback ${label}`);
    assert.equal((await sshWithKey(server.port, key, "true")).code, 255, `pubkey, callback ${label}`);
    assert.equal((await ssh2({ port: server.port, password: "foo", command: "x" })).ok, false, label);
    assert.ok(server.errors.length >= 3, `${label}: errors reported (${server.errors.length})`);
    assert.ok(server.sessions.every((s) => !s.isClosed || true));
  }
});

test("a channel-open callback that throws, refuses or returns garbage gives NULL: no channel", async () => {
  const behaviours: (() => SshChannel | null)[] = [
    () => {
      throw new Error("channel handler broke");
    },
    () => null,
    () => "not a channel" as unknown as SshChannel,
  ];
  let opened = 0;
  await using server = startServer({
    serverCallbacks: () =>
      new ServerCallbacks(undefined, {
        onAuthPassword: (_s, _u, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
        onChannelOpenRequestSession: (session) =>
          opened < behaviours.length ? behaviours[opened++]() : execChannel(session, (channel, command) => {
            void channel.write(`ran: ${command}\n`).then(() => channel.sendExitStatus(0))
              .then(() => channel.sendEof()).then(() => channel.close());
          }),
      }),
  });
  for (let i = 0; i < behaviours.length; i++) {
    const refused = await sshWithPassword(server.port, "foo", "echo never");
    assert.deepEqual([refused.code, refused.stdout], [255, ""], `behaviour ${i}: ${refused.stderr}`);
  }
  assert.equal(opened, behaviours.length);
  assert.equal(server.errors.length, 2, "the throw and the garbage are reported");
  assert.deepEqual(
    server.errors.map((e) => e.context),
    ["channelOpenRequestSession", "channelOpenRequestSession"],
  );
  const accepted = await sshWithPassword(server.port, "foo", "after");
  assert.deepEqual([accepted.code, accepted.stdout], [0, "ran: after\n"]);
});

test("a throwing message callback denies keyboard-interactive auth", async () => {
  await using server = startServer({
    authMethods: [AuthMethod.Interactive],
    messageCallback: (_session, message: Message) => {
      if (message.type === RequestType.Auth) throw new Error("kbd-int handler broke");
      return true;
    },
  });
  const result = await ssh2({ port: server.port, kbdAnswers: ["foo", "bar"], command: "x" });
  assert.equal(result.ok, false);
  assert.ok(server.errors.some((e) => e.context === "message callback"));
});

test("use after close throws SshError closed; double close is fine", async () => {
  await using server = startServer({
    onExec: (channel) => {
      void (async () => {
        await channel.close();
        await channel.close();
        assertClosed(() => channel.write("x"), "channel.write");
        assertClosed(() => channel.sendEof(), "channel.sendEof");
        assertClosed(() => channel.sendExitStatus(0), "channel.sendExitStatus");
        assertClosed(() => channel.sendExitSignal("TERM"), "channel.sendExitSignal");
        assertClosed(() => channel.readable, "channel.readable");
        assertClosed(() => channel.windowSize, "channel.windowSize");
        const session = channel.session;
        await session.close();
        await session.close();
        assertClosed(() => session.handleKeyExchange(), "session.handleKeyExchange");
        assertClosed(() => session.setAuthMethods([AuthMethod.Password]), "session.setAuthMethods");
        assertClosed(() => session.setServerCallbacks(new ServerCallbacks()), "session.setServerCallbacks");
        assertClosed(() => session.user, "session.user");
        assertClosed(() => session.getError(), "session.getError");
        assertClosed(() => new SshChannel(session), "new SshChannel");
        assertClosed(() => new SessionEvent(session), "new SessionEvent");
        assert.equal(session.isConnected, false);
      })().catch((error) => server.errors.push({ error, context: "test" }));
    },
  });
  const result = await ssh2({ port: server.port, password: "foo", command: "x" });
  assert.equal(result.code, null);
  await sleep(50);
  assert.deepEqual(server.errors.filter((e) => e.context === "test"), []);
  await server.bind.close();
  assertClosed(() => server.bind.port, "bind.port");
  assertClosed(() => server.bind.getError(), "bind.getError");
  assertClosed(() => server.bind.setMessageCallback(() => true), "bind.setMessageCallback");
  assert.throws(
    () => listen(() => {}, server.bind),
    (e: unknown) => e instanceof SshError && e.code === "closed",
  );
});

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

test("closing a session or channel inside its own callbacks is deferred safely", async () => {
  await using server = startServer({
    onExec: (channel, command) => {
      if (command === "close-session") void channel.session.close();
      else if (command === "close-channel") void channel.close();
      else {void channel.write(`ran: ${command}\n`).then(() => channel.sendExitStatus(0)).then(() =>
          channel.close()
        );}
    },
  });
  for (const command of ["close-session", "close-channel", "close-session"]) {
    const result = await ssh2({ port: server.port, password: "foo", command });
    assert.equal(result.stdout ?? "", "", command);
  }
  const healthy = await ssh2({ port: server.port, password: "foo", command: "still-serving" });
  assert.equal(healthy.stdout, "ran: still-serving\n");
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

test("clients dying at any step (mid-kex, mid-auth, mid-exec) never hurt the server", async () => {
  await using server = startServer({
    onExec: (channel) => {
      void (async () => {
        try {
          for (let i = 0; i < 100; i++) await channel.write(new Uint8Array(32 * 1024));
          await channel.sendExitStatus(0);
          await channel.close();
        } catch {
          // the client went away mid-write: expected
        }
      })();
    },
  });
  const rawConnections: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    rawConnections.push(
      new Promise((resolve) => {
        const socket = connect(server.port, "127.0.0.1", () => {
          if (i % 3 === 1) socket.write("SSH-2.0-broken\r\n" + "\0".repeat(i * 10));
          if (i % 3 === 2) socket.write(crypto.getRandomValues(new Uint8Array(512)));
          setTimeout(() => socket.destroy(), i * 2);
        });
        socket.on("error", () => {});
        socket.on("close", () => resolve());
      }),
    );
  }
  await Promise.all(rawConnections);
  const killed: Promise<unknown>[] = [];
  for (let i = 0; i < 12; i++) {
    const child = spawn("sshpass", sshpassArgs(server.port, "foo", "stream"), { stdio: "ignore" });
    killed.push(new Promise((resolve) => child.on("exit", resolve)));
    setTimeout(() => child.kill("SIGKILL"), 5 + i * 15);
  }
  await Promise.all(killed);
  const healthy = await ssh2({ port: server.port, password: "foo", command: "echo" });
  assert.equal(healthy.ok, true);
  assert.equal(healthy.stdoutLength, 100 * 32 * 1024);
  await sleep(100);
  const live = server.sessions.filter((s) => s.isConnected);
  assert.ok(live.length <= 1, `sessions still connected: ${live.length}`);
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

test("ssh exit codes and stdin via the test server", async () => {
  await using server = startServer();
  const result = await sshWithPassword(server.port, "foo", "some command");
  assert.deepEqual([result.stdout, result.code], ["ran: some command\n", 0]);
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
