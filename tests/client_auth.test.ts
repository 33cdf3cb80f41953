import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuthFailedError, AuthStatus, ClientSession, connect, type KbdintRequest, SshKey } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { startSlowAgent, startSshAgent } from "./support/agent.ts";
import { rejectsWith, scratch } from "./support/client_fixtures.ts";
import { startSshd } from "./support/sshd.ts";

async function authFailure(promise: Promise<unknown>): Promise<AuthFailedError> {
  const error = await rejectsWith(promise, "auth-failed");
  assert.ok(error instanceof AuthFailedError);
  return error;
}

test("sshd: ed25519 key file and RSA SshKey log in; a key it does not know is auth-failed with the methods left", async () => {
  await using sshd = await startSshd();
  const target = {
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
  };
  {
    await using ssh = await connect({ ...target, auth: { privateKey: sshd.clientKeyFile } });
    assert.equal((await ssh.run("whoami")).stdoutText.trim(), sshd.user);
  }
  using rsa = SshKey.generate("rsa", { bits: 2048 });
  sshd.authorize(rsa.toPublicKeyString());
  using stranger = SshKey.generate("ed25519");
  {
    // The stranger is tried first and refused; the RSA key then logs in.
    await using ssh = await connect({ ...target, auth: { privateKey: [stranger, rsa] } });
    assert.ok(ssh.isAuthenticated);
  }
  const error = await authFailure(connect({ ...target, auth: { privateKey: stranger, password: "nope" } }));
  assert.deepEqual(error.methods, ["publickey"]);
  assert.equal(error.partial, false);
  assert.match(error.message, new RegExp(stranger.fingerprint().replace(/[+/]/g, "\\$&")));
});

test("sshd: an encrypted key file with its passphrase", async () => {
  await using sshd = await startSshd();
  using key = SshKey.generate("ed25519");
  sshd.authorize(key.toPublicKeyString());
  const file = join(sshd.dir, "encrypted_ed25519");
  writeFileSync(file, key.toPrivateKeyString({ passphrase: "secret" }), { mode: 0o600 });
  const target = {
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
  };
  await using ssh = await connect({ ...target, auth: { privateKey: file, passphrase: "secret" } });
  assert.ok(ssh.isAuthenticated);
  await rejectsWith(
    connect({ ...target, auth: { privateKey: file, passphrase: "wrong" } }),
    "wrong-passphrase",
  );
});

test("DemoServer: password, keyboard-interactive prompts, public key and none", async () => {
  using key = SshKey.generate("ed25519");
  await using ds = await DemoServer.start({ authorizedKeys: [key], allowAuthNone: false });
  const target = { host: "127.0.0.1", port: ds.port, user: "tester", hostKey: { key: ds.hostKey } };
  {
    await using ssh = await connect({ ...target, auth: { password: "foo" } });
    assert.equal((await ssh.run("echo pw")).stdoutText, "pw\n");
  }
  const rounds: KbdintRequest[] = [];
  {
    await using ssh = await connect({
      ...target,
      auth: {
        methods: ["keyboard-interactive"],
        kbdint: (request) => {
          rounds.push(request);
          return request.prompts.map((prompt) => prompt.text === "Password: " ? "foo" : "bar");
        },
      },
    });
    assert.ok(ssh.isAuthenticated);
  }
  assert.deepEqual(rounds.flatMap((round) => round.prompts.map((prompt) => prompt.text)), [
    "Password: ",
    "Token: ",
  ]);
  {
    await using ssh = await connect({ ...target, auth: { privateKey: key } });
    assert.ok(ssh.isAuthenticated);
  }
  const methods = ds.clients.map((client) => client.authMethod);
  assert.deepEqual(methods, ["password", "keyboard-interactive", "publickey"]);
  const error = await authFailure(connect({ ...target, auth: { password: "wrong" } }));
  assert.deepEqual(error.methods.sort(), ["keyboard-interactive", "password", "publickey"]);
  await authFailure(connect({ ...target, auth: { none: true } }));

  await using open = await DemoServer.start({ allowAuthNone: true });
  await using _anyone = await connect({
    ...target,
    port: open.port,
    hostKey: { key: open.hostKey },
    auth: { none: true },
  });
  assert.equal(open.clients[0].authMethod, "none");
});

test("step by step: userauthNone lists the methods, then userauthPassword", async () => {
  await using ds = await DemoServer.start();
  await using ssh = new ClientSession({
    host: "127.0.0.1",
    port: ds.port,
    user: "tester",
    hostKey: { key: ds.hostKey },
  });
  await ssh.connect();
  assert.equal(ssh.isAuthenticated, false);
  assert.equal(await ssh.userauthNone(), AuthStatus.Denied);
  assert.deepEqual(ssh.userauthList().sort(), ["keyboard-interactive", "password", "publickey"]);
  assert.equal(await ssh.userauthPassword("wrong"), AuthStatus.Denied);
  assert.equal(await ssh.userauthPassword("foo"), AuthStatus.Success);
  assert.equal(ssh.isAuthenticated, true);
  assert.equal((await ssh.run("echo steps")).stdoutText, "steps\n");
});

test("agent: a real ssh-agent (its socket path, agent: true, or by default) logs in to sshd and to the DemoServer", async () => {
  await using sshd = await startSshd();
  await using agent = await startSshAgent(sshd.dir, [sshd.clientKeyFile]);
  {
    await using ssh = await connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { fingerprint: sshd.fingerprint },
      auth: { agent: agent.socket },
    });
    assert.equal((await ssh.run("echo agent")).stdoutText, "agent\n");
  }
  // agent: true, and no auth option at all, ask the agent of SSH_AUTH_SOCK.
  const saved = process.env.SSH_AUTH_SOCK;
  process.env.SSH_AUTH_SOCK = agent.socket;
  try {
    const target = {
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { fingerprint: sshd.fingerprint },
    };
    await using viaTrue = await connect({ ...target, auth: { agent: true } });
    assert.ok(viaTrue.isAuthenticated);
    await using byDefault = await connect(target);
    assert.ok(byDefault.isAuthenticated);
  } finally {
    if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = saved;
  }
  using clientKey = SshKey.fromFile(sshd.clientKeyFile);
  await using ds = await DemoServer.start({ authorizedKeys: [clientKey.publicKey()] });
  await using ssh = await connect({
    host: "127.0.0.1",
    port: ds.port,
    user: "tester",
    hostKey: { key: ds.hostKey },
    auth: { agent: agent.socket },
  });
  assert.ok(ssh.isAuthenticated);
  assert.equal(ds.clients[0].authMethod, "publickey");
});

test("agent: an agent that answers after 1 s does not stall the event loop (the call runs on a worker thread)", async () => {
  await using ds = await DemoServer.start();
  using tmp = scratch();
  await using agent = await startSlowAgent(tmp.dir, 1000);
  const attempt = async (): Promise<number> => {
    let last = performance.now();
    let worstGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
    }, 10);
    const started = performance.now();
    try {
      const error = await authFailure(connect({
        host: "127.0.0.1",
        port: ds.port,
        user: "tester",
        hostKey: { key: ds.hostKey },
        auth: { agent: agent.socket, methods: ["publickey"] },
      }));
      assert.match(error.message, /agent/);
    } finally {
      clearInterval(ticker);
    }
    assert.ok(performance.now() - started >= 1000, "the agent was asked and answered late");
    return worstGap;
  };
  // A busy machine delays timers now and then whatever the process does; a blocked thread delays them every time.
  let least = Infinity;
  for (let i = 0; i < 3 && least >= 50; i++) least = Math.min(least, await attempt());
  assert.ok(least < 50, `the event loop stalled for ${least.toFixed(1)} ms`);
});
