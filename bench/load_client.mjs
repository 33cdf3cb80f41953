// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node
// The benchmark's client: the npm `ssh2` client (or OpenSSH `ssh` for the
// cross-check) in its own Node process, driven over stdin/stdout so that the
// benchmark can sample the server exactly around the measured part.
//
//   node bench/load_client.mjs '{"workload":"handshake","port":2222,…}'
//
// Protocol (one JSON object per stdout line, one word per stdin line):
//   → {"event":"ready"}      after a warm-up connection; waits for "go"
//   → {"event":"half"}       idle and hold: half the sessions are up; waits for "continue"
//   → {"event":"holding"}    idle and hold: all sessions are up; waits for "release"
//   → {"event":"done", …}    the result: ok, ops, seconds, latency percentiles, bytes
import { spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url);
const { Client } = require("ssh2");
const options = JSON.parse(process.argv[2]);

const ALGORITHMS = {
  kex: ["curve25519-sha256"],
  cipher: ["aes128-gcm@openssh.com"],
  serverHostKey: ["ssh-ed25519"],
  compress: ["none"],
};

const lines = createInterface({ input: process.stdin });
const commands = lines[Symbol.asyncIterator]();
async function expect(word) {
  const { value, done } = await commands.next();
  if (done || value.trim() !== word) throw new Error(`expected "${word}" on stdin, got ${value}`);
}

function emit(object) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(object) + "\n", resolve));
}

function connect() {
  return new Promise((resolve, reject) => {
    const client = new Client();
    // ssh2 leaves Nagle on; a latency-minded client (like OpenSSH) turns it off.
    client.once("connect", () => client.setNoDelay(true));
    client.once("ready", () => resolve(client));
    client.once("error", reject);
    client.connect({
      host: "127.0.0.1",
      port: options.port,
      username: options.username,
      password: options.password,
      algorithms: ALGORITHMS,
      readyTimeout: 30000,
      hostVerifier: () => true,
    });
  });
}

function closed(client) {
  return new Promise((resolve) => {
    client.once("close", resolve);
    client.end();
  });
}

/** Runs `command`; resolves with the exit code once the channel closed. `feed(stream)` writes stdin. */
function exec(client, command, { feed, onData } = {}) {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, stream) => {
      if (error) return reject(error);
      let code = null;
      stream.on("exit", (c) => code = c);
      stream.on("data", (data) => onData?.(data));
      stream.stderr.resume();
      stream.on("close", () => resolve(code));
      if (feed) feed(stream).catch(reject);
      else stream.end();
    });
  });
}

const CHUNK = randomFillSync(Buffer.alloc(256 * 1024));

/** Writes `bytes` bytes to a writable with back-pressure, then ends it. */
async function send(stream, bytes) {
  let left = bytes;
  while (left > 0) {
    const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
    left -= chunk.length;
    if (!stream.write(chunk)) await new Promise((resolve) => stream.once("drain", resolve));
  }
  stream.end();
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function latencyReport(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

async function handshakeOnce() {
  const started = performance.now();
  const client = await connect();
  const code = await exec(client, "true");
  await closed(client);
  if (code !== 0) throw new Error(`"true" exited with ${code}`);
  return performance.now() - started;
}

async function handshakes(count, concurrency) {
  const latencies = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      latencies.push(await handshakeOnce());
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ops: count, seconds: (performance.now() - started) / 1000, ...latencyReport(latencies) };
}

/** The OpenSSH cross-check: `sshpass -p … ssh … true`, one after another. */
function opensshOnce() {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("sshpass", [
      "-p",
      options.password,
      "ssh",
      "-p",
      String(options.port),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      "-o",
      "PreferredAuthentications=password",
      "-o",
      "KexAlgorithms=curve25519-sha256",
      "-o",
      "Ciphers=aes128-gcm@openssh.com",
      "-o",
      "HostKeyAlgorithms=ssh-ed25519",
      `${options.username}@127.0.0.1`,
      "true",
    ], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => stderr += d);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`ssh exited with ${code}: ${stderr.trim()}`));
    });
  });
}

async function opensshHandshakes(count) {
  const latencies = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) latencies.push(await opensshOnce());
  return { ops: count, seconds: (performance.now() - started) / 1000, ...latencyReport(latencies) };
}

async function execs(count) {
  const client = await connect();
  const latencies = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const code = await exec(client, "true");
    if (code !== 0) throw new Error(`"true" exited with ${code}`);
    latencies.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  await closed(client);
  return { ops: count, seconds, ...latencyReport(latencies) };
}

async function bulkExec(direction, bytes) {
  const client = await connect();
  let received = 0;
  const started = performance.now();
  const code = direction === "up"
    ? await exec(client, "cat > /dev/null", { feed: (stream) => send(stream, bytes) })
    : await exec(client, `head -c ${bytes} /dev/zero`, { onData: (d) => received += d.length });
  const seconds = (performance.now() - started) / 1000;
  await closed(client);
  if (code !== 0) throw new Error(`the command exited with ${code}`);
  if (direction === "down" && received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
  return { bytes, seconds };
}

/** A TCP target in this process: a sink that counts, or a source that sends `bytes` and then ends. */
function target(direction, bytes) {
  let finish;
  const finished = new Promise((resolve) => finish = resolve);
  // Half-open allowed: one direction ending must not cut the other short.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    if (direction === "up") {
      let count = 0;
      socket.on("data", (d) => count += d.length);
      socket.on("end", () => {
        socket.end();
        finish(count);
      });
    } else {
      socket.resume();
      send(socket, bytes).then(() => finish(bytes));
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve({ port: server.address().port, finished, server }));
  });
}

function forwardOut(client, port) {
  return new Promise((resolve, reject) => {
    client.forwardOut(
      "127.0.0.1",
      0,
      "127.0.0.1",
      port,
      (error, stream) => error ? reject(error) : resolve(stream),
    );
  });
}

async function bulkForward(direction, bytes) {
  const sink = await target(direction, bytes);
  const client = await connect();
  try {
    const started = performance.now();
    const stream = await forwardOut(client, sink.port);
    let received = 0;
    const streamClosed = new Promise((resolve) => stream.on("close", resolve));
    stream.on("data", (d) => received += d.length);
    // Down: say EOF only once everything arrived, as a client reading a reply would.
    if (direction === "up") await send(stream, bytes);
    else stream.once("end", () => stream.end());
    const delivered = await sink.finished;
    await streamClosed;
    const seconds = (performance.now() - started) / 1000;
    if (direction === "up" && delivered !== bytes) {
      throw new Error(`target got ${delivered} of ${bytes} bytes`);
    }
    if (direction === "down" && received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
    return { bytes, seconds };
  } finally {
    sink.server.close();
    await closed(client);
  }
}

async function idle(count) {
  const clients = [];
  const stopped = [];
  for (let i = 0; i < count; i++) {
    if (i === Math.floor(count / 2)) {
      // Halfway: the benchmark samples memory here too, so one-time costs (code paged in,
      // heaps grown) cancel out of the per-session figure.
      await emit({ event: "half", count: i });
      await expect("continue");
    }
    const client = await connect();
    // An open channel running `cat`: it waits for input, so the channel stays open.
    await new Promise((resolve, reject) => {
      client.exec("cat", (error, stream) => {
        if (error) return reject(error);
        stream.stderr.resume();
        stream.resume();
        stopped.push(new Promise((r) => stream.on("close", r)));
        clients.push({ client, stream });
        resolve();
      });
    });
  }
  await emit({ event: "holding", count });
  await expect("release");
  for (const { stream } of clients) stream.end();
  await Promise.all(stopped);
  await Promise.all(clients.map(({ client }) => closed(client)));
  return { ops: count };
}

/**
 * Opens `count` authenticated sessions (no channel), `concurrency` at a time, and holds them idle
 * while other client processes measure the server; releases them on "release".
 */
async function hold(count, concurrency) {
  const clients = [];
  const openUntil = async (target) => {
    let next = clients.length;
    const worker = async () => {
      while (next < target) {
        next++;
        const client = await connect();
        client.on("error", () => {});
        clients.push(client);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, target - next) }, worker));
  };
  // Halfway: the benchmark samples memory here too, so one-time costs cancel out of the per-session figure.
  await openUntil(Math.floor(count / 2));
  await emit({ event: "half", count: clients.length });
  await expect("continue");
  await openUntil(count);
  await emit({ event: "holding", count: clients.length });
  await expect("release");
  for (let i = 0; i < clients.length; i += 500) {
    await Promise.all(clients.slice(i, i + 500).map((client) => closed(client)));
  }
  return { ops: count };
}

async function warmUp() {
  if (options.workload === "openssh-handshake") await opensshOnce();
  else await handshakeOnce();
}

const workloads = {
  "handshake": () => handshakes(options.count, options.concurrency ?? 1),
  "openssh-handshake": () => opensshHandshakes(options.count),
  "exec": () => execs(options.count),
  "upload": () => bulkExec("up", options.bytes),
  "download": () => bulkExec("down", options.bytes),
  "forward-up": () => bulkForward("up", options.bytes),
  "forward-down": () => bulkForward("down", options.bytes),
  "idle": () => idle(options.count),
  "hold": () => hold(options.count, options.concurrency ?? 16),
};

let result;
try {
  const run = workloads[options.workload];
  if (!run) throw new Error(`unknown workload ${options.workload}`);
  await warmUp();
  await emit({ event: "ready" });
  await expect("go");
  result = { ok: true, ...await run() };
} catch (error) {
  result = { ok: false, error: String(error?.message ?? error) };
}
await emit({ event: "done", ...result });
process.exit(0);
