// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node
// A client process built on the npm `ssh2` package, driven by one JSON
// argument; prints one JSON result line. Used by the tests so that clients
// run in their own process, as real clients do.
//
//   node tests/support/ssh2_client.mjs '{"port":2222,"password":"foo","command":"echo hi"}'
//
// Modes: "exec" (default) runs `command` (optional `stdin`); "idle" opens
// `count` authenticated sessions with an exec channel each, prints
// {"ready":true}, holds them `seconds`, then closes them.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Client } = require("ssh2");
const options = JSON.parse(process.argv[2]);

function connect() {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on("ready", () => resolve(client));
    client.on("error", reject);
    if (options.kbdAnswers) {
      client.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => {
        finish(options.kbdAnswers.slice(0, prompts.length));
      });
    }
    client.connect({
      host: "127.0.0.1",
      port: options.port,
      username: options.username ?? "tester",
      password: options.password,
      privateKey: options.privateKeyPath ? readFileSync(options.privateKeyPath) : undefined,
      tryKeyboard: Boolean(options.kbdAnswers),
      authHandler: options.authHandler,
      readyTimeout: 10000,
      hostVerifier: () => true,
    });
  });
}

function exec(client, command, stdin) {
  return new Promise((resolve, reject) => {
    client.exec(command, { env: options.env }, (error, stream) => {
      if (error) return reject(error);
      const stdout = [];
      const stderr = [];
      let code = null;
      let signal = null;
      let firstOutputAt = null;
      const startedAt = Date.now();
      stream.on("data", (d) => {
        if (stdout.length === 0) firstOutputAt = Date.now();
        stdout.push(d);
      });
      stream.stderr.on("data", (d) => stderr.push(d));
      stream.on("exit", (c, s) => {
        code = c;
        signal = s ?? null;
      });
      stream.on("close", () => {
        const out = Buffer.concat(stdout);
        resolve({
          // Large outputs are reported by length and digest only.
          stdout: out.length <= 65536 ? out.toString("utf8") : undefined,
          stdoutLength: out.length,
          stdoutSha256: createHash("sha256").update(out).digest("hex"),
          stderr: Buffer.concat(stderr).toString("utf8"),
          code,
          signal,
          firstOutputMs: firstOutputAt === null ? null : firstOutputAt - startedAt,
          totalMs: Date.now() - startedAt,
        });
      });
      if (options.stdinFile !== undefined) stream.end(readFileSync(options.stdinFile));
      else if (stdin !== undefined) stream.end(stdin);
    });
  });
}

function report(result) {
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}

try {
  if (options.mode === "idle") {
    const clients = [];
    for (let i = 0; i < options.count; i++) {
      const client = await connect();
      await new Promise((resolve, reject) =>
        client.exec(options.command ?? "idle", (error, stream) => error ? reject(error) : resolve(stream))
      );
      clients.push(client);
    }
    console.log(JSON.stringify({ ready: true, count: clients.length }));
    await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
    for (const client of clients) client.end();
    report({ ok: true });
  } else {
    const client = await connect();
    const result = await exec(client, options.command, options.stdin);
    client.end();
    report({ ok: true, ...result });
  }
} catch (error) {
  report({ ok: false, error: String(error?.message ?? error), level: error?.level });
}
