// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node
// The npm `ssh2` server in the benchmark: password auth, exec through
// `sh -c` with stdin/stdout/stderr streamed and the exit status sent before
// EOF, and direct-tcpip (connect first, then accept), as in the DemoServer.
//
//   node bench/servers/ssh2_server.mjs --host-key FILE [--password PW]
//     [--kex LIST] [--ciphers LIST] [--hostkey-algorithms LIST]
//
// Prints {"host","port"} as the first stdout line; runs until SIGTERM/SIGINT.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const { Server } = require("ssh2");

const { values } = parseArgs({
  options: {
    "host-key": { type: "string" },
    password: { type: "string", default: "foo" },
    kex: { type: "string" },
    ciphers: { type: "string" },
    "hostkey-algorithms": { type: "string" },
  },
});
const list = (text) => text?.split(",");
const algorithms = {};
if (values.kex) algorithms.kex = list(values.kex);
if (values.ciphers) algorithms.cipher = list(values.ciphers);
if (values["hostkey-algorithms"]) algorithms.serverHostKey = list(values["hostkey-algorithms"]);

function exec(accept, info) {
  const stream = accept();
  const child = spawn("sh", ["-c", info.command], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.on("error", () => {});
  stream.pipe(child.stdin);
  child.stdout.pipe(stream, { end: false });
  child.stderr.pipe(stream.stderr, { end: false });
  stream.on("close", () => child.kill("SIGKILL"));
  child.on("close", (code, signal) => {
    if (signal) stream.exit(signal.replace(/^SIG/, ""), false, "");
    else stream.exit(code ?? 0);
    stream.end();
  });
}

function forward(accept, reject, info) {
  const socket = connect(info.destPort, info.destIP);
  socket.setNoDelay(true);
  socket.once("error", () => reject());
  socket.once("connect", () => {
    const stream = accept();
    socket.removeAllListeners("error");
    socket.on("error", () => stream.destroy());
    stream.on("error", () => socket.destroy());
    stream.pipe(socket).pipe(stream);
  });
}

const server = new Server({ hostKeys: [readFileSync(values["host-key"])], algorithms }, (client) => {
  client.on("error", () => {});
  client.setNoDelay(true); // as the other servers do: SSH is request/response
  client.on("authentication", (ctx) => {
    if (ctx.method === "password" && ctx.password === values.password) ctx.accept();
    else ctx.reject(["password"]);
  });
  client.on("ready", () => {
    client.on("session", (acceptSession) => {
      const session = acceptSession();
      session.on("exec", (accept, _reject, info) => exec(accept, info));
    });
    client.on("tcpip", (accept, reject, info) => forward(accept, reject, info));
  });
});

server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ host: "127.0.0.1", port: server.address().port }));
});
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500);
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
