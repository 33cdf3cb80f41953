/**
 * "Ours" in the benchmark: the DemoServer, started with the benchmark's host
 * key, password and pinned algorithms.
 *
 *   deno run -A scripts/bench/servers/ours_server.ts --host-key FILE
 *     [--password PW] [--kex LIST] [--ciphers LIST] [--hostkey-algorithms LIST]
 *
 * Prints {"host","port"} as the first stdout line; runs until SIGTERM/SIGINT.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DemoServer } from "@libssh/libssh/demo";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    "host-key": { type: "string" },
    password: { type: "string", default: "foo" },
    kex: { type: "string" },
    ciphers: { type: "string" },
    "hostkey-algorithms": { type: "string" },
  },
  strict: true,
});
if (!values["host-key"]) {
  console.error(
    "usage: ours_server --host-key FILE [--password PW] [--kex L] [--ciphers L] [--hostkey-algorithms L]",
  );
  process.exit(2);
}

const server = await DemoServer.start({
  hostKey: values["host-key"],
  password: values.password,
  algorithms: { kex: values.kex, ciphers: values.ciphers, hostKey: values["hostkey-algorithms"] },
});
console.log(JSON.stringify({ host: server.host, port: server.port }));

const stop = async (): Promise<void> => {
  await server.close();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
