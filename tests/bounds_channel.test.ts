/**
 * Input back-pressure through the library API: a consumer that takes less
 * than it is given closes the client's window, and gets the rest later, in
 * order (`onData` + `channel.read()`, and `channel.readable` under
 * `channelInputHighWaterMark`). The client is paramiko in its own process.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  AuthMethod,
  AuthStatus,
  Bind,
  ChannelCallbacks,
  listen,
  ServerCallbacks,
  SessionEvent,
  SshChannel,
  SshKey,
} from "../mod.ts";
import type { ServerLimits } from "../mod.ts";

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A server whose session channels accept an exec request and hand the channel
 * to `onChannel`; `takeData` is their `onData` (absent: no data callback).
 */
function startServer(
  limits: ServerLimits,
  onChannel: (channel: SshChannel) => void,
  takeData?: (data: Uint8Array) => number,
): { port: number; close(): Promise<void> } {
  const hostKey = SshKey.generate("ed25519");
  const bind = new Bind({ hostKey, authMethods: [AuthMethod.Password], limits });
  const done = listen(async (session) => {
    session.setServerCallbacks(
      new ServerCallbacks(undefined, {
        onAuthPassword: (_s, _u, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
        onChannelOpenRequestSession: (s) => {
          const channel = new SshChannel(s);
          channel.setCallbacks(
            new ChannelCallbacks(undefined, {
              onExecRequest: (_s, ch) => {
                onChannel(ch);
                return true;
              },
              ...(takeData ? { onData: (_s: unknown, _c: unknown, data: Uint8Array) => takeData(data) } : {}),
            }),
          );
          return channel;
        },
      }),
    );
    if (!await session.handleKeyExchange()) return;
    using _event = new SessionEvent(session);
    await session.disconnected;
  }, bind);
  return {
    port: bind.port,
    close: async () => {
      await bind.close();
      await done;
      hostKey.close();
    },
  };
}

/**
 * A paramiko client that sends `size` random bytes to an exec channel: it
 * prints how much went before the window stayed closed for 2 s, waits for a
 * line on stdin, sends the rest and EOF, and prints the data's sha256.
 */
function flooder(port: number, size: number): {
  lines: () => string[];
  next: () => Promise<string>;
  resume: () => void;
  exited: Promise<unknown>;
} {
  const script = `
import hashlib, os, socket, sys, paramiko
data = os.urandom(int(sys.argv[2]))
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
c = t.open_session(); c.exec_command("take"); c.settimeout(2)
sent = 0
try:
    while sent < len(data):
        sent += c.send(data[sent:sent + 65536])
except socket.timeout:
    pass
print(sent, flush=True)
sys.stdin.readline()
c.settimeout(60)
while sent < len(data):
    sent += c.send(data[sent:sent + 65536])
c.shutdown_write()
print(hashlib.sha256(data).hexdigest(), flush=True)
c.recv_exit_status()`;
  const child = spawn("/usr/bin/python3", ["-c", script, String(port), String(size)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.on("data", (data) => output += data);
  const exited = new Promise((resolve) => child.on("close", resolve));
  const lines = (): string[] => output.split("\n").filter((line) => line !== "");
  let taken = 0;
  return {
    lines,
    next: async () => {
      while (lines().length <= taken && child.exitCode === null) await sleep(20);
      return lines()[taken++] ?? "";
    },
    resume: () => child.stdin.write("go\n"),
    exited,
  };
}

test("onData that takes nothing closes the client's window; read() later gets every byte, in order (paramiko)", async () => {
  let channel!: SshChannel;
  const server = startServer({}, (ch) => channel = ch, () => 0);
  try {
    const client = flooder(server.port, 8 * MiB);
    const stalled = Number(await client.next());
    assert.ok(stalled > 0 && stalled < 4 * MiB, `the client sent ${stalled} bytes before the window closed`);
    client.resume();
    const hash = createHash("sha256");
    let total = 0;
    for (;;) {
      const chunk = channel.read(256 * 1024);
      if (chunk === null) break;
      if (chunk.length === 0) {
        await sleep(5);
        continue;
      }
      hash.update(chunk);
      total += chunk.length;
    }
    await channel.sendExitStatus(0);
    await channel.close();
    console.log(`read(): ${stalled} bytes sent before the window closed; ${total} read in all`);
    assert.equal(total, 8 * MiB);
    assert.equal(hash.digest("hex"), await client.next());
    await client.exited;
  } finally {
    await server.close();
  }
});

test("readable holds at most channelInputHighWaterMark: the client's window closes earlier with a lower mark (paramiko)", async () => {
  const stalledWith = async (highWaterMark: number): Promise<number> => {
    let channel!: SshChannel;
    let readable!: ReadableStream<Uint8Array>;
    const server = startServer({ channelInputHighWaterMark: highWaterMark }, (ch) => {
      channel = ch;
      readable = ch.readable; // taken at once, read only once the client stalled
    });
    try {
      const client = flooder(server.port, 8 * MiB);
      const stalled = Number(await client.next());
      client.resume();
      const hash = createHash("sha256");
      let total = 0;
      for await (const chunk of readable) {
        hash.update(chunk);
        total += chunk.length;
      }
      await channel.sendExitStatus(0);
      await channel.close();
      assert.equal(total, 8 * MiB);
      assert.equal(hash.digest("hex"), await client.next());
      await client.exited;
      return stalled;
    } finally {
      await server.close();
    }
  };
  const small = await stalledWith(64 * 1024);
  const large = await stalledWith(2 * MiB);
  console.log(`readable: the window closed after ${small} bytes with a 64 KiB mark, ${large} with 2 MiB`);
  assert.ok(small < 4 * MiB && large - small >= MiB, `${small} vs ${large}`);
});
