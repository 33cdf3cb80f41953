// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Deno and Node
// The client benchmark's JS clients: this binding's client (on Deno with
// mod.ts, on Node with the npm build) or the npm `ssh2` client, running one
// workload against the benchmark's sshd and measuring its own CPU around the
// measured part (runtime start-up and a warm-up excluded).
//
//   deno run -A bench/client_load.mjs '{"client":"ours","module":"…/mod.ts","workload":"handshake",…}'
//   node bench/client_load.mjs '{"client":"ssh2","workload":"down",…}'
//
// Prints one JSON line: { cpuMs, wallMs, ops, bytes, latenciesMs? }.
import { connectOurs, connectSsh2, cpuMs, printResult } from "./js_clients.mjs";

const options = JSON.parse(process.argv[2]);
const { workload, count, bytes } = options;
const CHUNK = 64 * 1024;

/** One client's operations, whatever the library. */
function oursClient() {
  return {
    open: () => connectOurs(options),
    exec: async (session, command) => {
      const result = await session.run(command);
      if (result.exitStatus !== 0) throw new Error(`${command}: ${result.exitStatus} ${result.stderrText}`);
    },
    download: async (session, command) => {
      const process = await session.spawn(command, { stdin: "" });
      let received = 0;
      const stderr = new Response(process.stderr).text();
      for await (const chunk of process.stdout) received += chunk.length;
      await stderr;
      await process.exited;
      return received;
    },
    upload: async (session, command, total) => {
      const process = await session.spawn(command);
      const writer = process.stdin.getWriter();
      const chunk = new Uint8Array(CHUNK);
      for (let sent = 0; sent < total; sent += CHUNK) await writer.write(chunk);
      await writer.close();
      await new Response(process.stdout).arrayBuffer();
      await process.exited;
    },
    close: (session) => session.close(),
  };
}

function ssh2Client() {
  const execStream = (connection, command) =>
    new Promise((resolve, reject) =>
      connection.exec(command, (error, stream) => error ? reject(error) : resolve(stream))
    );
  return {
    open: () => connectSsh2(options),
    exec: async (connection, command) => {
      const stream = await execStream(connection, command);
      await new Promise((resolve, reject) => {
        stream.on("close", (code) => code === 0 ? resolve() : reject(new Error(`${command}: ${code}`)));
        stream.resume();
        stream.stderr.resume();
      });
    },
    download: async (connection, command) => {
      const stream = await execStream(connection, command);
      let received = 0;
      stream.on("data", (chunk) => received += chunk.length);
      stream.stderr.resume();
      await new Promise((resolve) => stream.on("close", resolve));
      return received;
    },
    upload: async (connection, command, total) => {
      const stream = await execStream(connection, command);
      stream.resume();
      stream.stderr.resume();
      const chunk = Buffer.alloc(CHUNK);
      for (let sent = 0; sent < total; sent += CHUNK) {
        if (!stream.write(chunk)) await new Promise((resolve) => stream.once("drain", resolve));
      }
      stream.end();
      await new Promise((resolve) => stream.on("close", resolve));
    },
    close: (connection) => connection.end(),
  };
}

const client = options.client === "ours" ? oursClient() : ssh2Client();

let result;
if (workload === "handshake") {
  for (let i = 0; i < 3; i++) {
    const session = await client.open();
    await client.exec(session, "true");
    await client.close(session);
  }
  const cpu0 = cpuMs(), wall0 = performance.now();
  for (let i = 0; i < count; i++) {
    const session = await client.open();
    await client.exec(session, "true");
    await client.close(session);
  }
  result = { cpuMs: cpuMs() - cpu0, wallMs: performance.now() - wall0, ops: count };
} else {
  const session = await client.open();
  await client.exec(session, "true");
  if (workload === "latency") {
    for (let i = 0; i < 5; i++) await client.exec(session, "true");
    const latenciesMs = [];
    const cpu0 = cpuMs(), wall0 = performance.now();
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await client.exec(session, "true");
      latenciesMs.push(performance.now() - started);
    }
    result = { cpuMs: cpuMs() - cpu0, wallMs: performance.now() - wall0, ops: count, latenciesMs };
  } else if (workload === "down") {
    const cpu0 = cpuMs(), wall0 = performance.now();
    const received = await client.download(session, `head -c ${bytes} /dev/zero`);
    if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
    result = { cpuMs: cpuMs() - cpu0, wallMs: performance.now() - wall0, ops: 1, bytes };
  } else {
    const cpu0 = cpuMs(), wall0 = performance.now();
    await client.upload(session, "cat > /dev/null", bytes);
    result = { cpuMs: cpuMs() - cpu0, wallMs: performance.now() - wall0, ops: 1, bytes };
  }
  await client.close(session);
}
printResult(result);
