import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SftpClient, SshError } from "../mod.ts";
import { connectSftp, SFTP_SERVERS, sftpServerProcess } from "./support/sftp_transports.ts";

// The errors a real server gives, as SshError "sftp" with the status and the path.

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-sftp-errors-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Asserts `promise` rejects with SshError "sftp" of `status` naming `path`. */
async function rejectsWith(promise: Promise<unknown>, status: string, path: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SshError, String(error));
    assert.equal(error.code, "sftp", error.message);
    assert.equal(error.status, status, error.message);
    assert.equal(error.path, path, error.message);
    assert.ok(error.message.includes(path), error.message);
    return true;
  });
}

for (const kind of SFTP_SERVERS) {
  test(`a missing file gives sftp / no-such-file with its path, from every call (${kind})`, async () => {
    using temp = tempDir();
    const missing = `${temp.dir}/missing`;
    await using connected = await connectSftp(kind);
    const { sftp } = connected;
    await rejectsWith(sftp.stat(missing), "no-such-file", missing);
    await rejectsWith(sftp.lstat(missing), "no-such-file", missing);
    await rejectsWith(sftp.open(missing), "no-such-file", missing);
    await rejectsWith(sftp.open(missing, "r+"), "no-such-file", missing);
    await rejectsWith(sftp.readFile(missing), "no-such-file", missing);
    await rejectsWith(sftp.readdir(missing), "no-such-file", missing);
    await rejectsWith(sftp.unlink(missing), "no-such-file", missing);
    await rejectsWith(sftp.rmdir(missing), "no-such-file", missing);
    await rejectsWith(sftp.rename(missing, `${temp.dir}/other`), "no-such-file", missing);
    await rejectsWith(
      sftp.rename(missing, `${temp.dir}/other`, { overwrite: true }),
      "no-such-file",
      missing,
    );
    // OpenSSH's realpath accepts a missing last component, not a missing directory above it.
    assert.equal(await sftp.realpath(missing), missing);
    await rejectsWith(sftp.realpath(`${missing}/inner`), "no-such-file", `${missing}/inner`);
    await rejectsWith(sftp.readlink(missing), "no-such-file", missing);
    await rejectsWith(sftp.chmod(missing, 0o600), "no-such-file", missing);
    await rejectsWith(sftp.utimes(missing, 1, 1), "no-such-file", missing);
    await rejectsWith(sftp.statvfs(missing), "no-such-file", missing);
    await rejectsWith(sftp.writeFile(`${missing}/inner`, "x"), "no-such-file", `${missing}/inner`);
    await rejectsWith(sftp.link(missing, `${temp.dir}/hard`), "no-such-file", `${temp.dir}/hard`);
    // A download of a missing file creates no local file.
    await rejectsWith(sftp.download(missing, `${temp.dir}/local`), "no-such-file", missing);
    assert.equal(existsSync(`${temp.dir}/local`), false);
    assert.equal(sftp.pendingRequests, 0);
    assert.ok(sftp.isOpen);
  });
}

test("permission denied: sftp-server as nobody on files of root (the tests run as root)", async () => {
  using temp = tempDir();
  const { dir } = temp;
  chmodSync(dir, 0o755); // nobody may look in, not write
  writeFileSync(`${dir}/secret`, "root only");
  chmodSync(`${dir}/secret`, 0o600);
  mkdirSync(`${dir}/closed`, { mode: 0o700 });
  writeFileSync(`${dir}/local`, "upload me");
  const transport = sftpServerProcess({ asUser: "nobody" });
  await using sftp = await SftpClient.over(transport);

  await rejectsWith(sftp.open(`${dir}/secret`), "permission-denied", `${dir}/secret`);
  await rejectsWith(sftp.readFile(`${dir}/secret`), "permission-denied", `${dir}/secret`);
  await rejectsWith(sftp.download(`${dir}/secret`, `${dir}/copy`), "permission-denied", `${dir}/secret`);
  await rejectsWith(sftp.writeFile(`${dir}/new`, "x"), "permission-denied", `${dir}/new`);
  await rejectsWith(sftp.upload(`${dir}/local`, `${dir}/new`), "permission-denied", `${dir}/new`);
  await rejectsWith(sftp.mkdir(`${dir}/sub`), "permission-denied", `${dir}/sub`);
  await rejectsWith(sftp.mkdir(`${dir}/sub/deeper`, { recursive: true }), "permission-denied", `${dir}/sub`);
  await rejectsWith(sftp.unlink(`${dir}/secret`), "permission-denied", `${dir}/secret`);
  await rejectsWith(sftp.chmod(`${dir}/secret`, 0o666), "permission-denied", `${dir}/secret`);
  await rejectsWith(sftp.rename(`${dir}/secret`, `${dir}/mine`), "permission-denied", `${dir}/secret`);
  await rejectsWith(sftp.readdir(`${dir}/closed`), "permission-denied", `${dir}/closed`);
  await rejectsWith(sftp.stat(`${dir}/closed/anything`), "permission-denied", `${dir}/closed/anything`);
  assert.equal(readFileSync(`${dir}/secret`, "utf8"), "root only");
  assert.equal(existsSync(`${dir}/new`), false);
  // What nobody may do still works.
  assert.equal((await sftp.stat(`${dir}/secret`)).size, 9);
  assert.equal((await sftp.readdir(dir)).length, 3);
  assert.equal(sftp.pendingRequests, 0);
});

test("permission denied for root too: creating a file in sysfs, through ssh -s to the DemoServer", async () => {
  await using connected = await connectSftp("DemoServer through ssh -s");
  await rejectsWith(
    connected.sftp.writeFile("/sys/kernel/libssh-test", "x"),
    "permission-denied",
    "/sys/kernel/libssh-test",
  );
  await rejectsWith(connected.sftp.mkdir("/sys/libssh-test"), "permission-denied", "/sys/libssh-test");
});
