import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect as tcpConnect } from "node:net";
import { connect, SshKey } from "../mod.ts";
import { knownHostsFile, rejectsWith, scratch } from "./support/client_fixtures.ts";
import { startDropbear } from "./support/dropbear.ts";
import { startEchoServer } from "./support/echo_server.ts";

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

test("dropbear: host keys, password and public key auth, exec and -L", async () => {
  await using dropbear = await startDropbear();
  using tmp = scratch();
  const target = { host: "127.0.0.1", port: dropbear.port, user: dropbear.user.name };

  // Host keys: the known_hosts line passes, another key is changed, no line is unknown.
  using other = SshKey.generate("ed25519");
  await rejectsWith(
    connect({
      ...target,
      hostKey: { knownHosts: knownHostsFile(tmp.dir), global: false },
      auth: { password: "x" },
    }),
    "host-key-unknown",
  );
  await rejectsWith(
    connect({
      ...target,
      hostKey: {
        knownHosts: knownHostsFile(tmp.dir, `[127.0.0.1]:${dropbear.port} ${other.toPublicKeyString()}`),
      },
      auth: { password: "x" },
    }),
    "host-key-changed",
  );
  const hostKey = { knownHosts: knownHostsFile(tmp.dir, dropbear.knownHostsLine), global: false as const };

  // Password (checked against /etc/shadow), and a wrong one.
  {
    await using ssh = await connect({ ...target, hostKey, auth: { password: dropbear.user.password } });
    const result = await ssh.run("echo out; echo err >&2; whoami; exit 7");
    assert.equal(result.stdoutText, `out\n${dropbear.user.name}\n`);
    assert.equal(result.stderrText, "err\n");
    assert.equal(result.exitStatus, 7);
    assert.match(ssh.serverBanner ?? "", /dropbear/i);
  }
  await rejectsWith(connect({ ...target, hostKey, auth: { password: "wrong" } }), "auth-failed");

  // Public key from ~/.ssh/authorized_keys.
  using key = SshKey.generate("ed25519");
  dropbear.authorize(key.toPublicKeyString());
  await using ssh = await connect({
    ...target,
    hostKey: { fingerprint: dropbear.fingerprint },
    auth: { privateKey: key },
  });
  assert.equal((await ssh.run("cat", { stdin: "through dropbear" })).stdoutText, "through dropbear");

  // -L: a local port through dropbear to an echo server.
  await using echo = await startEchoServer();
  await using forward = await ssh.forwardLocal({ host: "127.0.0.1", port: echo.port });
  const data = randomBytes(200 * 1024);
  const echoed = await new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const socket = tcpConnect(
      { host: "127.0.0.1", port: forward.listenPort, allowHalfOpen: true },
      () => socket.end(data),
    );
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("end", () => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
    socket.on("error", reject);
  });
  assert.equal(sha256(echoed), sha256(data));
});
