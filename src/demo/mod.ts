/**
 * The DemoServer: a disposable SSH server for test suites.
 *
 * @example
 * ```ts
 * import { DemoServer } from "@libssh/libssh/demo";
 *
 * await using ds = await DemoServer.start();
 * console.log(ds.port, ds.fingerprint);
 * ```
 *
 * @module
 */

export {
  type DemoAuthMethod,
  type DemoClient,
  DemoServer,
  type DemoServerOptions,
  type ExecContext,
  type ExecHandler,
} from "./demo_server.ts";
export type { TimelineEntry } from "./timeline.ts";
