// A client (npm `ssh2`) that floods the server with global requests that want
// an answer (keepalive@openssh.com) for SECONDS and never reads the answers.
// Prints one JSON line: how many it sent and how many bytes it could not send
// (the server stopped reading it).
//
//   node tests/support/ssh2_flood.mjs '{"port":2222,"password":"foo","seconds":5}'
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Client } = require("ssh2");
const options = JSON.parse(process.argv[2]);

const client = new Client();
client.on("error", (error) => {
  console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error) }));
  process.exit(0);
});
client.on("ready", () => {
  client._sock.pause(); // the answers stay unread
  let sent = 0;
  const end = Date.now() + options.seconds * 1000;
  const burst = () => {
    for (let i = 0; i < 2000; i++) client._protocol.ping(); // ssh2's keepalive: a global request wanting a reply
    sent += 2000;
    if (Date.now() < end) return setImmediate(burst);
    console.log(JSON.stringify({ ok: true, sent, unsent: client._sock.writableLength }));
    process.exit(0);
  };
  burst();
});
client.connect({
  host: "127.0.0.1",
  port: options.port,
  username: "tester",
  password: options.password,
  hostVerifier: () => true,
});
