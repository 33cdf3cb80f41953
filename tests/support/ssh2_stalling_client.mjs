// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node
// A client (npm `ssh2`) for back-pressure tests: it stalls one direction of an
// exec channel until the test sends it a line on stdin. Driven by one JSON
// argument; prints one JSON line per step.
//
//   node tests/support/ssh2_stalling_client.mjs '{"port":2222,"password":"foo","command":"x","upload":8388608}'
//
// `upload` (bytes): sends that many random bytes to the command until the
// server's window stayed shut for `stallMs` (default 1000), prints
// {"sent":N} (bytes the server let in), waits for a line, sends the rest and
// EOF, prints {"uploadSha256":…}.
// `holdOutput`: prints {"holding":true} once the command runs and reads none
// of its output until a line arrives.
// At the end it prints {"received":N,"sha256":…,"code":…}: the command's
// whole output and exit status.
import { createHash, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Client } = require("ssh2");
const options = JSON.parse(process.argv[2]);
const CHUNK = 32 * 1024;

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextLine = () => lines.next();
const print = (result) => console.log(JSON.stringify(result));
const finish = (result) => process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));

function connect() {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on("ready", () => resolve(client));
    client.on("error", reject);
    client.connect({
      host: "127.0.0.1",
      port: options.port,
      username: "tester",
      password: options.password,
      readyTimeout: 10000,
      hostVerifier: () => true,
    });
  });
}

/** Writes one chunk; resolves true once ssh2 sent all of it, false if the window stayed shut for `stallMs`. */
function send(stream, chunk, stallMs) {
  return new Promise((resolve) => {
    const timer = stallMs === undefined ? undefined : setTimeout(() => resolve(false), stallMs);
    stream.write(chunk, () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function upload(stream, data) {
  let sent = 0;
  while (
    sent < data.length && await send(stream, data.subarray(sent, sent + CHUNK), options.stallMs ?? 1000)
  ) {
    sent += CHUNK;
  }
  print({ sent: Math.min(sent, data.length) });
  await nextLine();
  // The stalled chunk is still queued in ssh2's stream: send what follows it.
  for (let next = sent + CHUNK; next < data.length; next += CHUNK) {
    await send(stream, data.subarray(next, next + CHUNK));
  }
  stream.end();
  print({ uploadSha256: createHash("sha256").update(data).digest("hex") });
}

try {
  const client = await connect();
  const stream = await new Promise((resolve, reject) =>
    client.exec(options.command, (error, stream) => error ? reject(error) : resolve(stream))
  );
  const output = createHash("sha256");
  let received = 0;
  let code = null;
  stream.on("exit", (exitCode) => code = exitCode);
  const closed = new Promise((resolve) => stream.on("close", resolve));
  const read = () =>
    stream.on("data", (data) => {
      output.update(data);
      received += data.length;
    });
  if (options.holdOutput) {
    print({ holding: true });
    await nextLine();
  }
  read();
  if (options.upload !== undefined) await upload(stream, randomBytes(options.upload));
  await closed;
  client.end();
  finish({ received, sha256: output.digest("hex"), code });
} catch (error) {
  finish({ error: String(error?.message ?? error) });
}
