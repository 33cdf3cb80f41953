/**
 * SshChannel: opening (and refusing) session channels, exec, the client's
 * input (`readable`, `isEof`) and output (`write`, `writable`) with
 * back-pressure both ways.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { AuthStatus, ServerCallbacks, type SshChannel } from "../mod.ts";
import { sshWithPassword } from "./support/clients.ts";
import { execChannel, startServer } from "./support/test_server.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** The most a libssh server channel lets a client send beyond what was consumed (`WINDOW_DEFAULT`, libssh 0.11+; less in 0.10). */
const LIBSSH_WINDOW = 2 * MiB;

/** What `tests/support/ssh2_stalling_client.mjs` prints, one object per step. */
interface ClientStep {
  holding?: boolean;
  sent?: number;
  uploadSha256?: string;
  received?: number;
  sha256?: string;
  code?: number | null;
  error?: string;
}

/** Runs the stalling ssh2 client (see its header); `resume()` ends the stall. */
function stallingClient(options: Record<string, unknown>): {
  next(): Promise<ClientStep>;
  resume(): void;
  exited: Promise<unknown>;
} {
  const script = fileURLToPath(new URL("./support/ssh2_stalling_client.mjs", import.meta.url));
  const child = spawn("node", [script, JSON.stringify({ password: "foo", command: "stall", ...options })], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.on("close", resolve));
  const steps = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    next: async () => {
      const line = await steps.next();
      if (line.done) throw new Error("the ssh2 client ended early");
      const step: ClientStep = JSON.parse(line.value);
      if (step.error) throw new Error(`ssh2 client: ${step.error}`);
      return step;
    },
    resume: () => child.stdin.write("go\n"),
    exited,
  };
}

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

test("ssh exit codes and stdin via the test server", async () => {
  await using server = startServer();
  const result = await sshWithPassword(server.port, "foo", "some command");
  assert.deepEqual([result.stdout, result.code], ["ran: some command\n", 0]);
});

test("isEof: false when the command starts, true once the client sent EOF (OpenSSH)", async () => {
  await using server = startServer({
    onExec: (channel) => {
      void (async () => {
        const atStart = channel.isEof;
        const input = await new Response(channel.readable).text();
        await channel.write(`${atStart} ${channel.isEof} ${input}`);
        await channel.sendExitStatus(0);
        await channel.close();
      })();
    },
  });
  const result = await sshWithPassword(server.port, "foo", "cat", { input: "the input\n" });
  assert.deepEqual([result.code, result.stdout], [0, "false true the input\n"], result.stderr);
});

test("readable: a client sending more than channelInputHighWaterMark to a server that does not read is held back; all arrives intact once read (ssh2)", async () => {
  const highWaterMark = 3 * MiB;
  const size = 16 * MiB;
  let opened!: (channel: SshChannel) => void;
  const channelOpened = new Promise<SshChannel>((resolve) => opened = resolve);
  await using server = startServer({ limits: { channelInputHighWaterMark: highWaterMark }, onExec: opened });
  const client = stallingClient({ port: server.port, upload: size, stallMs: 2000 });
  const channel = await channelOpened;
  const readable = channel.readable; // taken at once, read only once the client stalled
  const { sent } = await client.next();
  console.log(
    `readable: the client sent ${sent} bytes before the window stayed shut (mark ${highWaterMark})`,
  );
  // The stream holds up to the mark; libssh keeps at most its channel window (2 MiB) besides.
  assert.ok(sent! >= highWaterMark && sent! <= highWaterMark + LIBSSH_WINDOW, `${sent}`);
  assert.equal(channel.isEof, false);
  client.resume();
  const hash = createHash("sha256");
  let total = 0;
  for await (const chunk of readable) {
    hash.update(chunk);
    total += chunk.length;
  }
  assert.equal(channel.isEof, true);
  assert.equal(total, size);
  assert.equal(hash.digest("hex"), (await client.next()).uploadSha256);
  await channel.sendExitStatus(0);
  await channel.close();
  assert.equal((await client.next()).code, 0);
  await client.exited;
});

test("writable: the server writes more than a client that does not read takes; the write waits, then all arrives intact (ssh2)", async () => {
  const size = 16 * MiB;
  const data = randomBytes(size);
  let opened!: (channel: SshChannel) => void;
  const channelOpened = new Promise<SshChannel>((resolve) => opened = resolve);
  await using server = startServer({ onExec: opened });
  const client = stallingClient({ port: server.port, holdOutput: true });
  const channel = await channelOpened;
  assert.equal((await client.next()).holding, true);
  const writer = channel.writable.getWriter();
  let accepted = 0;
  let last: Promise<void> = Promise.resolve();
  const writing = (async () => {
    for (let offset = 0; offset < size; offset += 64 * KiB) {
      await writer.ready;
      const chunk = data.subarray(offset, offset + 64 * KiB);
      last = writer.write(chunk).then(() => void (accepted += chunk.length));
    }
    await last;
  })();
  let settled = false;
  void writing.then(() => settled = true);
  for (let before = -1; before !== accepted;) {
    before = accepted;
    await sleep(500);
  }
  console.log(`writable: ${accepted} bytes taken before the client's window shut`);
  assert.equal(settled, false);
  assert.ok(accepted < size, `${accepted}`);
  client.resume();
  await writing;
  await channel.sendExitStatus(0);
  await writer.close(); // EOF
  await channel.close();
  const result = await client.next();
  assert.deepEqual(
    [result.received, result.sha256, result.code],
    [size, createHash("sha256").update(data).digest("hex"), 0],
  );
  await client.exited;
});
