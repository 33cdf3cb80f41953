/**
 * Session: logins through the server callbacks, lifetimes (close, use after
 * close, closing inside a callback) and clients that die at any step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AuthMethod,
  AuthStatus,
  listen,
  ServerCallbacks,
  SessionEvent,
  SshChannel,
  SshError,
} from "../mod.ts";
import { python, scriptCommand, ssh2, sshpassArgs, sshWithKey, sshWithPassword } from "./support/clients.ts";
import { keyFiles } from "./support/key_files.ts";
import { execChannel, startServer } from "./support/test_server.ts";

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
  using keys = keyFiles();
  const key = keys.generate("id_authorized");
  const stranger = keys.generate("id_stranger");
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

test("throwing, rejecting or garbage-returning auth callbacks deny, and are reported", async () => {
  using keys = keyFiles();
  const key = keys.generate("id");
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
