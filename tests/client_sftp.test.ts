import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ClientSession, connect } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { connectToDemo, connectToSshd, rejectsWith, scratch } from "./support/client_fixtures.ts";
import { startSshd } from "./support/sshd.ts";
import { startServer } from "./support/test_server.ts";

const MiB = 1024 * 1024;

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Runs `body` with a session to a private sshd (internal-sftp), then to a DemoServer (sftp-server). */
async function onBothServers(body: (ssh: ClientSession, server: string) => Promise<void>): Promise<void> {
  {
    await using sshd = await startSshd();
    await using ssh = await connectToSshd(sshd);
    await body(ssh, "sshd");
  }
  {
    await using ds = await DemoServer.start();
    await using ssh = await connectToDemo(ds);
    await body(ssh, "DemoServer");
  }
}

test("session.sftp(): calls, 64 MiB up and down with equal sha256, a missing file, and close", async () => {
  await onBothServers(async (ssh, server) => {
    using dir = scratch();
    const remoteDir = join(dir.dir, "remote");
    await using sftp = await ssh.sftp();
    await sftp.mkdir(join(remoteDir, "a", "b"), { recursive: true });
    await sftp.writeFile(join(remoteDir, "a", "hello.txt"), "hi\n");
    assert.equal(readFileSync(join(remoteDir, "a", "hello.txt"), "utf8"), "hi\n", server);
    assert.equal((await sftp.stat(join(remoteDir, "a", "hello.txt"))).size, 3, server);
    const names = (await sftp.readdir(join(remoteDir, "a"))).map((entry) => entry.name).sort();
    assert.deepEqual(names, ["b", "hello.txt"], server);

    const data = randomBytes(64 * MiB);
    const local = join(dir.dir, "up.bin");
    writeFileSync(local, data);
    assert.equal(await sftp.upload(local, join(remoteDir, "up.bin")), data.length, server);
    assert.equal(sha256(readFileSync(join(remoteDir, "up.bin"))), sha256(data), server);
    const back = join(dir.dir, "down.bin");
    assert.equal(await sftp.download(join(remoteDir, "up.bin"), back), data.length, server);
    assert.equal(sha256(readFileSync(back)), sha256(data), server);

    const missing = await rejectsWith(sftp.stat(join(remoteDir, "nothing-here")), "sftp");
    assert.equal(missing.status, "no-such-file", server);
    assert.equal(missing.path, join(remoteDir, "nothing-here"), server);

    await sftp.close();
    assert.equal(ssh.isConnected, true, `${server}: the session outlives its SFTP channel`);
    assert.equal((await ssh.run("echo still here")).stdoutText, "still here\n", server);
  });
});

test("session.sftp() where the server has no sftp subsystem: request-denied, the session goes on", async () => {
  await using server = startServer(); // answers exec requests only
  await using ssh = await connect({
    host: "127.0.0.1",
    port: server.port,
    user: "tester",
    hostKey: { key: server.hostKey },
    auth: { password: "foo" },
  });
  await rejectsWith(ssh.sftp(), "request-denied");
  assert.equal(ssh.channels.length, 0, "the refused channel is closed");
  assert.equal((await ssh.run("hello")).stdoutText, "ran: hello\n");
});
