import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SshError } from "../mod.ts";
import { setTimeout as delay } from "node:timers/promises";
import { childProcesses } from "./support/census.ts";
import { run } from "./support/clients.ts";
import { monitorLag } from "./support/lag.ts";
import { connectSftp, SFTP_SERVERS } from "./support/sftp_transports.ts";

const MiB = 1024 * 1024;

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-sftp-transfer-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `size` random bytes to `path`, a MiB at a time. */
function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, "w");
  try {
    for (let written = 0; written < size; written += MiB) {
      writeSync(fd, randomBytes(Math.min(MiB, size - written)));
    }
  } finally {
    closeSync(fd);
  }
}

/** sha256 of a file, by `sha256sum` in another process (hashing here would stall the event loop being measured). */
async function sha256File(path: string): Promise<string> {
  const result = await run("sha256sum", [path]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split(" ")[0];
}

/** Asserts `promise` rejects with SshError "aborted". */
async function rejectsAborted(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SshError && error.code === "aborted", String(error));
    return true;
  });
}

/** Descriptors of process `pid` open on files under `dir` (the server's open handles). */
function filesOpenUnder(pid: number, dir: string): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return ""; // closed while we looked
    }
  }).filter((target) => target.startsWith(dir));
}

for (const kind of SFTP_SERVERS) {
  test(`64 MiB up and down through ${kind}: equal sha256, the event loop never waits 50 ms`, async () => {
    using temp = tempDir();
    const { dir } = temp;
    const size = 64 * MiB;
    writeRandomFile(`${dir}/source`, size);
    const expected = await sha256File(`${dir}/source`);
    // The DemoServer in a process of its own: the lag measured here is the client's.
    await using connected = await connectSftp(kind, { demoProcess: true });
    const { sftp } = connected;

    const progress: [number, number | undefined][] = [];
    const lag = monitorLag(10);
    const started = performance.now();
    const uploaded = await sftp.upload(`${dir}/source`, `${dir}/remote`, {
      onProgress: (done, total) => progress.push([done, total]),
    });
    const uploadMs = performance.now() - started;
    assert.equal(sftp.pendingRequests, 0);
    const downloaded = await sftp.download(`${dir}/remote`, `${dir}/back`, {
      onProgress: (done, total) => progress.push([done, total]),
    });
    const downloadMs = performance.now() - started - uploadMs;
    const { maxLagMs, maxBusyLagMs, ticks } = lag.stop();

    assert.equal(uploaded, size);
    assert.equal(downloaded, size);
    assert.equal(await sha256File(`${dir}/remote`), expected);
    assert.equal(await sha256File(`${dir}/back`), expected);
    assert.equal(sftp.pendingRequests, 0);
    // Progress: rising to the size within each transfer, which knew the size from the start.
    const split = progress.findIndex(([done], i) => i > 0 && done < progress[i - 1][0]);
    for (const part of [progress.slice(0, split), progress.slice(split)]) {
      assert.ok(part.length > 10, `${part.length} progress calls`);
      assert.deepEqual(part.at(-1), [size, size]);
      assert.ok(part.every(([done, total], i) => total === size && (i === 0 || done > part[i - 1][0])));
    }
    assert.ok(ticks > 0);
    // The bound is on what this process's work explains: a 2-core machine running other test suites
    // leaves the process unscheduled for longer than that at times (both figures are printed).
    assert.ok(maxBusyLagMs < 50, `the event loop was held ${maxBusyLagMs.toFixed(1)} ms`);
    console.log(
      `${kind}: 64 MiB up in ${uploadMs.toFixed(0)} ms, down in ${downloadMs.toFixed(0)} ms, ` +
        `max event-loop lag ${maxLagMs.toFixed(1)} ms (${
          maxBusyLagMs.toFixed(1)
        } ms of it explained by this process's CPU time)`,
    );
  });

  test(`abort in the middle of a transfer leaves no request pending (${kind})`, async () => {
    using temp = tempDir();
    const { dir } = temp;
    const size = 24 * MiB;
    writeRandomFile(`${dir}/source`, size);
    await using connected = await connectSftp(kind);
    const { sftp, transport } = connected;
    // The sftp-server process: ours on pipes, the DemoServer's (a child of this process too) through ssh.
    const serverPid = kind === "sftp-server on pipes"
      ? transport.child.pid!
      : childProcesses().find((child) => child.command.includes("sftp-server"))!.pid;
    assert.ok(serverPid);

    // Each transfer is stopped after 4 MiB: the server is frozen (SIGSTOP), the client goes on until
    // requests it sent wait unanswered, then the abort comes; the transfer must wait for their
    // answers (after SIGCONT) before it rejects.
    for (const direction of ["download", "upload"] as const) {
      const controller = new AbortController();
      let frozen = false;
      const options = {
        chunkSize: 32 * 1024,
        signal: controller.signal,
        onProgress: (done: number) => {
          if (done < 4 * MiB || frozen) return;
          process.kill(serverPid, "SIGSTOP");
          frozen = true;
        },
      };
      let settled = false;
      const transfer = (direction === "download"
        ? sftp.download(`${dir}/source`, `${dir}/partial-${direction}`, options)
        : sftp.upload(`${dir}/source`, `${dir}/partial-${direction}`, options)).finally(() =>
          settled = true
        );
      transfer.catch(() => {}); // awaited below; a failed assertion first must not make it unhandled
      try {
        const deadline = Date.now() + 10_000;
        while (!(frozen && sftp.pendingRequests > 0) && !settled && Date.now() < deadline) {
          await delay(5);
        }
        const inFlightAtAbort = sftp.pendingRequests;
        controller.abort();
        await delay(200);
        assert.ok(inFlightAtAbort > 0, `${direction}: ${inFlightAtAbort} requests in flight at the abort`);
        assert.equal(settled, false, `${direction} settled while its requests were unanswered`);
        // Answers already on their way through pipes and the SSH channel may still arrive.
        assert.ok(
          sftp.pendingRequests <= inFlightAtAbort,
          `${direction}: nothing new was sent after the abort`,
        );
      } finally {
        process.kill(serverPid, "SIGCONT");
      }
      await rejectsAborted(transfer);
      assert.equal(sftp.pendingRequests, 0, direction);
      const partial = statSync(`${dir}/partial-${direction}`).size;
      assert.ok(partial >= 4 * MiB && partial < size, `${direction}: ${partial} bytes copied`);
    }

    // An already aborted signal: nothing is read or written.
    await rejectsAborted(sftp.download(`${dir}/source`, `${dir}/never`, { signal: AbortSignal.abort() }));
    await rejectsAborted(sftp.readFile(`${dir}/source`, { signal: AbortSignal.abort() }));
    await rejectsAborted(
      sftp.writeFile(`${dir}/never-up`, new Uint8Array(MiB), { signal: AbortSignal.abort() }),
    );
    assert.equal(sftp.pendingRequests, 0);

    // A stream cancelled midway waits for its reads.
    {
      await using file = await sftp.open(`${dir}/source`);
      const reader = file.readable({ chunkSize: 16 * 1024, concurrency: 32 }).getReader();
      await reader.read();
      await reader.cancel();
      assert.equal(sftp.pendingRequests, 0);
    }

    // The server closed every handle of the stopped transfers, and the session goes on.
    assert.equal((await sftp.stat(`${dir}/source`)).size, size);
    assert.deepEqual(filesOpenUnder(serverPid, dir), []);
  });

  test(`a directory of 10,000 entries is listed whole through ${kind}`, async () => {
    using temp = tempDir();
    const { dir } = temp;
    mkdirSync(`${dir}/many`);
    const names = Array.from({ length: 10_000 }, (_, i) => `entry-${i.toString().padStart(5, "0")}`);
    for (const name of names) writeFileSync(`${dir}/many/${name}`, name);
    await using connected = await connectSftp(kind);
    const entries = await connected.sftp.readdir(`${dir}/many`);
    assert.deepEqual(entries.map((entry) => entry.name).sort(), names);
    assert.ok(entries.every((entry) => entry.stats.isFile() && entry.stats.size === entry.name.length));
    assert.equal(connected.sftp.pendingRequests, 0);
  });
}

test("readFile and writeFile hold what they were given; readFile stops at maxLength", async () => {
  using temp = tempDir();
  const { dir } = temp;
  await using connected = await connectSftp("sftp-server on pipes");
  const { sftp } = connected;
  const data = randomBytes(3 * MiB + 17);
  await sftp.writeFile(`${dir}/data`, data, { chunkSize: 100_000, concurrency: 4 });
  assert.deepEqual(await sftp.readFile(`${dir}/data`, { chunkSize: 65_536 }), new Uint8Array(data));
  await assert.rejects(sftp.readFile(`${dir}/data`, { maxLength: MiB }), (error: SshError) => {
    assert.equal(error.code, "sftp");
    assert.equal(error.status, "failure");
    assert.match(error.message, /maxLength/);
    return true;
  });
  assert.equal(sftp.pendingRequests, 0);
  // Bad options are refused before anything is sent.
  await assert.rejects(sftp.download(`${dir}/data`, `${dir}/x`, { concurrency: 0 }), RangeError);
  await assert.rejects(sftp.upload(`${dir}/data`, `${dir}/y`, { chunkSize: -1 }), RangeError);
  await assert.rejects(sftp.upload(`${dir}/missing`, `${dir}/z`), (e: SshError) => e.code === "io");
  // Local files that cannot be read or written: SshError "io" naming them.
  await assert.rejects(
    sftp.upload(dir, `${dir}/z`),
    (e: SshError) => e.code === "io" && /is a directory/.test(e.message),
  );
  assert.ok(!existsSync(`${dir}/z`), "the remote file was not created");
  await assert.rejects(sftp.download(`${dir}/data`, "/dev/full"), (e: SshError) => {
    assert.equal(e.code, "io", String(e));
    assert.match(e.message, /writing local file \/dev\/full failed/);
    return true;
  });
  assert.equal(sftp.pendingRequests, 0);
});
