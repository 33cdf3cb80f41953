// "Ours" on Node: the same DemoServer as ours_server.ts, imported from the npm
// build (`npm/`, made by scripts/build_npm.ts; the benchmark builds it before it
// starts). BENCH_OURS_NODE_MODULE overrides the module.
//
//   node scripts/bench/servers/ours_server_node.mjs --host-key FILE [--password PW]
//     [--kex LIST] [--ciphers LIST] [--hostkey-algorithms LIST]
//
// Prints {"host","port"} as the first stdout line; runs until SIGTERM/SIGINT.
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const modulePath = process.env.BENCH_OURS_NODE_MODULE ??
  new URL("../../../npm/src/demo/mod.js", import.meta.url).href;
const { DemoServer } = await import(
  modulePath.startsWith("file:") ? modulePath : pathToFileURL(modulePath).href
);

const { values } = parseArgs({
  options: {
    "host-key": { type: "string" },
    password: { type: "string", default: "foo" },
    kex: { type: "string" },
    ciphers: { type: "string" },
    "hostkey-algorithms": { type: "string" },
  },
});
const server = await DemoServer.start({
  hostKey: values["host-key"],
  password: values.password,
  algorithms: { kex: values.kex, ciphers: values.ciphers, hostKey: values["hostkey-algorithms"] },
});
console.log(JSON.stringify({ host: server.host, port: server.port }));
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
