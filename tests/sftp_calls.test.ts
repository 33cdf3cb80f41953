import { test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SshError } from "../mod.ts";
import { run } from "./support/clients.ts";
import { connectSftp, SFTP_SERVERS } from "./support/sftp_transports.ts";

// Every SftpClient and SftpFile call against real servers: OpenSSH's sftp-server on pipes, and the
// DemoServer's sftp subsystem through OpenSSH's `ssh -s`. Both servers run on this machine, so each
// result is checked against the local file system. Modes are chosen so that the usual umask (022 or 002)
// leaves them as they are.

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-sftp-test-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Asserts `promise` rejects with SshError "sftp" of `status` (any if undefined) naming `path`. */
async function rejectsWith(
  promise: Promise<unknown>,
  status: string | undefined,
  path: string,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SshError, String(error));
    assert.equal(error.code, "sftp", error.message);
    if (status) assert.equal(error.status, status, error.message);
    assert.equal(error.path, path, error.message);
    assert.ok(error.message.includes(path), error.message);
    return true;
  });
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

for (const kind of SFTP_SERVERS) {
  test(`every SftpClient call against ${kind}`, async () => {
    using temp = tempDir();
    const { dir } = temp;
    await using connected = await connectSftp(kind);
    const { sftp } = connected;

    assert.ok(sftp.isOpen);
    assert.equal(sftp.extensions.get("posix-rename@openssh.com"), "1");
    assert.equal(await sftp.realpath("/"), "/");

    // limits@openssh.com: OpenSSH's values.
    const limits = await sftp.limits();
    assert.equal(limits.maxPacketLength, 256 * 1024);
    assert.equal(limits.maxReadLength, 255 * 1024);
    assert.equal(limits.maxWriteLength, 255 * 1024);
    assert.ok(limits.maxOpenHandles > 0);

    // mkdir, plain and recursive.
    await sftp.mkdir(`${dir}/plain`, { mode: 0o750 });
    assert.equal(await sftp.realpath(`${dir}/./plain/..//plain/`), `${dir}/plain`);
    assert.ok(statSync(`${dir}/plain`).isDirectory());
    assert.equal(statSync(`${dir}/plain`).mode & 0o777, 0o750);
    await rejectsWith(sftp.mkdir(`${dir}/plain`), "failure", `${dir}/plain`);
    await sftp.mkdir(`${dir}/deep/er/still`, { recursive: true });
    assert.ok(statSync(`${dir}/deep/er/still`).isDirectory());
    await sftp.mkdir(`${dir}/deep/er`, { recursive: true }); // exists: fine
    writeFileSync(`${dir}/file-in-the-way`, "");
    await rejectsWith(
      sftp.mkdir(`${dir}/file-in-the-way`, { recursive: true }),
      "failure",
      `${dir}/file-in-the-way`,
    );
    await rejectsWith(sftp.mkdir(`${dir}/missing/parent`), "no-such-file", `${dir}/missing/parent`);

    // writeFile, readFile, stat, lstat.
    await sftp.writeFile(`${dir}/a.txt`, "alpha\n", { mode: 0o600 });
    assert.equal(readFileSync(`${dir}/a.txt`, "utf8"), "alpha\n");
    assert.equal(text(await sftp.readFile(`${dir}/a.txt`)), "alpha\n");
    const stats = await sftp.stat(`${dir}/a.txt`);
    const local = statSync(`${dir}/a.txt`);
    assert.equal(stats.size, 6);
    assert.equal(stats.mode, local.mode);
    assert.equal(stats.uid, local.uid);
    assert.equal(stats.gid, local.gid);
    assert.equal(stats.mtime?.getTime(), Math.floor(local.mtimeMs / 1000) * 1000);
    assert.ok(stats.isFile() && !stats.isDirectory() && !stats.isSymbolicLink());
    assert.ok((await sftp.stat(dir)).isDirectory());
    await sftp.writeFile(`${dir}/a.txt`, "appended\n", { flags: "a" });
    assert.equal(readFileSync(`${dir}/a.txt`, "utf8"), "alpha\nappended\n");
    await rejectsWith(sftp.writeFile(`${dir}/a.txt`, "no", { flags: "wx" }), "failure", `${dir}/a.txt`);
    await sftp.writeFile(`${dir}/empty`, new Uint8Array(0));
    assert.equal(statSync(`${dir}/empty`).size, 0);
    assert.equal((await sftp.readFile(`${dir}/empty`)).length, 0);

    // symlink, readlink, lstat (OpenSSH's argument order: target, then the link).
    await sftp.symlink("a.txt", `${dir}/link`);
    assert.equal(readlinkSync(`${dir}/link`), "a.txt");
    assert.equal(await sftp.readlink(`${dir}/link`), "a.txt");
    assert.ok((await sftp.lstat(`${dir}/link`)).isSymbolicLink());
    assert.ok((await sftp.stat(`${dir}/link`)).isFile());
    assert.equal((await sftp.stat(`${dir}/link`)).size, 15);
    // readlink(2) fails with EINVAL, which OpenSSH reports as SSH_FX_BAD_MESSAGE; the session goes on.
    await rejectsWith(sftp.readlink(`${dir}/a.txt`), "bad-message", `${dir}/a.txt`);
    assert.ok(sftp.isOpen);

    // hardlink@openssh.com.
    await sftp.link(`${dir}/a.txt`, `${dir}/hard`);
    assert.equal(statSync(`${dir}/hard`).ino, statSync(`${dir}/a.txt`).ino);
    assert.equal(statSync(`${dir}/a.txt`).nlink, 2);

    // rename: plain (refuses to replace), then posix-rename with overwrite.
    writeFileSync(`${dir}/b.txt`, "beta");
    await rejectsWith(sftp.rename(`${dir}/b.txt`, `${dir}/hard`), "failure", `${dir}/b.txt`);
    await sftp.rename(`${dir}/b.txt`, `${dir}/c.txt`);
    assert.ok(!existsSync(`${dir}/b.txt`));
    assert.equal(readFileSync(`${dir}/c.txt`, "utf8"), "beta");
    await sftp.rename(`${dir}/c.txt`, `${dir}/hard`, { overwrite: true });
    assert.equal(readFileSync(`${dir}/hard`, "utf8"), "beta");
    assert.ok(!existsSync(`${dir}/c.txt`));

    // setstat, chmod, chown, utimes.
    await sftp.chmod(`${dir}/a.txt`, 0o640);
    assert.equal(statSync(`${dir}/a.txt`).mode & 0o7777, 0o640);
    await sftp.utimes(`${dir}/a.txt`, new Date("2001-02-03T04:05:06Z"), 1_000_000_000);
    assert.equal(statSync(`${dir}/a.txt`).atimeMs, Date.parse("2001-02-03T04:05:06Z"));
    assert.equal(statSync(`${dir}/a.txt`).mtimeMs, 1_000_000_000_000);
    assert.equal((await sftp.stat(`${dir}/a.txt`)).mtime?.getTime(), 1_000_000_000_000);
    await sftp.chown(`${dir}/a.txt`, 4321, 8765); // the servers run as root here
    assert.equal(statSync(`${dir}/a.txt`).uid, 4321);
    assert.equal(statSync(`${dir}/a.txt`).gid, 8765);
    await sftp.setstat(`${dir}/a.txt`, { size: 3, mode: 0o604 });
    assert.equal(readFileSync(`${dir}/a.txt`, "utf8"), "alp");
    assert.equal(statSync(`${dir}/a.txt`).mode & 0o7777, 0o604);
    await assert.rejects(sftp.setstat(`${dir}/a.txt`, { uid: 1 }), TypeError);
    await assert.rejects(sftp.utimes(`${dir}/a.txt`, -1, 0), RangeError);

    // statvfs@openssh.com against stat -f.
    const vfs = await sftp.statvfs(dir);
    const df = await run("stat", ["-f", "-c", "%S %b %c %l", dir]);
    const [fragment, blocks, files, nameMax] = df.stdout.trim().split(" ").map(Number);
    assert.deepEqual([vfs.fragmentSize, vfs.blocks, vfs.files, vfs.nameMax], [
      fragment,
      blocks,
      files,
      nameMax,
    ]);
    assert.ok(vfs.availableBlocks <= vfs.freeBlocks && vfs.freeBlocks <= vfs.blocks);
    assert.equal(typeof vfs.fsid, "bigint");

    // readdir: names and lstat-like attributes, no . or ..
    const entries = await sftp.readdir(dir);
    assert.deepEqual(
      entries.map((entry) => entry.name).sort(),
      ["a.txt", "deep", "empty", "file-in-the-way", "hard", "link", "plain"],
    );
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    assert.ok(byName.get("deep")!.stats.isDirectory());
    assert.ok(byName.get("link")!.stats.isSymbolicLink());
    assert.equal(byName.get("hard")!.stats.size, 4);
    assert.match(byName.get("hard")!.longname, /hard$/);
    await rejectsWith(sftp.readdir(`${dir}/a.txt`), "no-such-file", `${dir}/a.txt`); // ENOTDIR, for OpenSSH
    await assert.rejects(sftp.readdir(dir, { maxEntries: 3 }), (e: SshError) => e.status === "failure");
    assert.equal(sftp.pendingRequests, 0);

    // unlink, rmdir.
    await sftp.unlink(`${dir}/link`);
    assert.ok(existsSync(`${dir}/a.txt`) && !lstatExists(`${dir}/link`));
    await sftp.rmdir(`${dir}/deep/er/still`);
    assert.ok(!existsSync(`${dir}/deep/er/still`));
    await rejectsWith(sftp.rmdir(`${dir}/deep`), "failure", `${dir}/deep`);
    await rejectsWith(sftp.unlink(`${dir}/link`), "no-such-file", `${dir}/link`);

    assert.equal(sftp.pendingRequests, 0);
    await sftp.close();
    assert.equal(sftp.isOpen, false);
    await sftp.close(); // idempotent
  });

  test(`every SftpFile call against ${kind}`, async () => {
    using temp = tempDir();
    const { dir } = temp;
    await using connected = await connectSftp(kind);
    const { sftp } = connected;

    {
      await using file = await sftp.open(`${dir}/f`, "w+", 0o640);
      assert.equal(file.path, `${dir}/f`);
      assert.equal(statSync(`${dir}/f`).mode & 0o777, 0o640);
      await file.write("hello, world", 0);
      await file.write(new TextEncoder().encode("W"), 7);
      assert.equal(text(await file.read(100, 0)), "hello, World");
      assert.equal(text(await file.read(5, 7)), "World");
      assert.equal((await file.read(10, 12)).length, 0); // at the end
      assert.equal((await file.read(10, 1000)).length, 0); // past it
      assert.equal((await file.stat()).size, 12);
      await file.setstat({ size: 5 });
      assert.equal(readFileSync(`${dir}/f`, "utf8"), "hello");
      await file.sync();
      // A write past the end leaves a hole of zeros, as pwrite does.
      await file.write("!", 7);
      assert.deepEqual([...readFileSync(`${dir}/f`)], [..."hello\0\0!"].map((c) => c.charCodeAt(0)));
    }

    // A read longer than one request is split, in order; chunks and concurrency can be chosen.
    const big = new Uint8Array(1_000_003).map((_, i) => (i * 7919) % 251);
    writeFileSync(`${dir}/big`, big);
    {
      await using file = await sftp.open(`${dir}/big`);
      assert.deepEqual(await file.read(big.length + 10, 0), big);
      assert.deepEqual(await file.read(100_000, 500_000), big.subarray(500_000, 600_000));
      const chunks: Uint8Array[] = [];
      for await (const chunk of file.readable({ start: 10, end: 200_010, chunkSize: 4096, concurrency: 3 })) {
        assert.ok(chunk.length <= 4096);
        chunks.push(chunk);
      }
      assert.deepEqual(Buffer.concat(chunks), Buffer.from(big.subarray(10, 200_010)));
      const whole: Uint8Array[] = [];
      for await (const chunk of file.readable()) whole.push(chunk);
      assert.deepEqual(Buffer.concat(whole), Buffer.from(big));
      // Writing to a file opened for reading fails with the server's status (OpenSSH says "No such file").
      await rejectsWith(file.write("x", 0), undefined, `${dir}/big`);
      assert.deepEqual(readFileSync(`${dir}/big`), Buffer.from(big));
    }
    {
      await using file = await sftp.open(`${dir}/copy`, "w");
      await new Blob([big]).stream().pipeTo(file.writable({ chunkSize: 10_000, concurrency: 5 }));
      await file.close();
      await file.close(); // idempotent
      assert.deepEqual(readFileSync(`${dir}/copy`), Buffer.from(big));
      await assert.rejects(file.read(1, 0), (e: SshError) => e.code === "closed");
      assert.throws(() => file.readable(), (e: SshError) => e.code === "closed");
    }
    {
      await using file = await sftp.open(`${dir}/copy`, "r+");
      const writer = file.writable({ start: 999_990 }).getWriter();
      await writer.write(new TextEncoder().encode("0123456789ABC"));
      await writer.close();
      assert.equal(readFileSync(`${dir}/copy`).subarray(999_990).toString(), "0123456789ABC");
    }
    {
      // "a": every write lands at the end, whatever its position.
      writeFileSync(`${dir}/log`, "one\n");
      await using file = await sftp.open(`${dir}/log`, "a");
      await file.write("two\n", 0);
      assert.equal(readFileSync(`${dir}/log`, "utf8"), "one\ntwo\n");
    }
    await rejectsWith(sftp.open(`${dir}/log`, "wx"), "failure", `${dir}/log`);
    await rejectsWith(sftp.open(`${dir}/nope`, "r"), "no-such-file", `${dir}/nope`);
    await assert.rejects(sftp.open(`${dir}/log`, "rw" as "r"), TypeError);
    assert.equal(sftp.pendingRequests, 0);
  });
}

test("an SftpFile left open is released when its client closes; using it then throws closed", async () => {
  using temp = tempDir();
  mkdirSync(`${temp.dir}/d`);
  writeFileSync(`${temp.dir}/d/x`, "x");
  await using connected = await connectSftp("sftp-server on pipes");
  const file = await connected.sftp.open(`${temp.dir}/d/x`);
  await connected.sftp.close();
  assert.equal(await connected.transport.exited, 0, connected.transport.stderr());
  await assert.rejects(file.read(1, 0), (e: SshError) => e.code === "closed");
  await assert.rejects(file.stat(), (e: SshError) => e.code === "closed");
  await file.close(); // nothing to release any more
});

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
