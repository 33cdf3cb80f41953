/**
 * Records what a real `ssh2` client sends during a login and one exec, for the
 * fuzzer's mutation cases (`tests/support/fuzz.ts`):
 *
 *   deno run -A scripts/record_handshake.ts [OUT]   (default tests/fixtures/ssh2_handshake.bin)
 *
 * A TCP relay between the client and a DemoServer keeps every byte the client
 * sends, in order. Only the part up to the client's NEWKEYS replays
 * meaningfully (banner, KEXINIT, ECDH init, NEWKEYS); what follows is
 * encrypted under that session's keys, so a replay of it ends in a MAC failure.
 * The fuzzer knows this and aims most of its mutations at the clear part.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { DemoServer } from "../src/demo/mod.ts";
import { ssh2 } from "../tests/support/clients.ts";
import { clearTextLength } from "../tests/support/fuzz.ts";

const out = process.argv[2] ??
  fileURLToPath(new URL("../tests/fixtures/ssh2_handshake.bin", import.meta.url));

await using ds = await DemoServer.start();
const recorded: Uint8Array[] = [];
const sockets = new Set<Socket>();
const relay = createServer((client) => {
  const server = connect(ds.port, "127.0.0.1");
  sockets.add(client).add(server);
  client.on("data", (chunk) => {
    recorded.push(Uint8Array.from(chunk));
    server.write(chunk);
  });
  server.pipe(client);
  client.on("end", () => server.end());
  for (const socket of [client, server]) socket.on("error", () => {});
});
await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
const address = relay.address();
const port = typeof address === "object" && address ? address.port : 0;

const result = await ssh2({ port, password: ds.password, command: "true" });
if (!result.ok || result.code !== 0) throw new Error(`the recorded login failed: ${JSON.stringify(result)}`);
for (const socket of sockets) socket.destroy();
await new Promise<void>((resolve) => relay.close(() => resolve()));

const bytes = Buffer.concat(recorded);
writeFileSync(out, bytes);
console.error(
  `record_handshake: ${bytes.length} bytes (${clearTextLength(bytes)} in clear, up to NEWKEYS) in ${out}`,
);
