/**
 * A DemoServer in a worker thread, for the test that several workers serve
 * one port: `{ port }` in `workerData`, answers `"count"` with the clients it
 * served and `"close"` by closing its server (before the thread is ended).
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import { DemoServer } from "../../src/demo/mod.ts";

const server = await DemoServer.start({ port: workerData.port, reusePort: true, password: "pw" });
parentPort!.on("message", async (message: string) => {
  if (message === "count") parentPort!.postMessage({ clients: server.clients.length });
  if (message === "close") {
    await server.close();
    parentPort!.postMessage({ closed: true });
  }
});
parentPort!.postMessage({ port: server.port });
