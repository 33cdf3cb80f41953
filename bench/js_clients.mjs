// deno-lint-ignore-file explicit-function-return-type explicit-module-boundary-types -- plain JavaScript run by Deno and Node
// What the client benchmarks' JS clients share (bench/client_load.mjs,
// bench/sftp_load.mjs): logging in to the benchmark's sshd with this binding
// (on Deno with mod.ts, on Node with the npm build) or with the npm `ssh2`
// client, the process's own CPU, and the one JSON line of the result.
import { createRequire } from "node:module";

/**
 * Logs in with this binding; `settings` is the JSON argument of the client
 * script: `module`, `port`, `user`, `password`, `fingerprint`, `algorithms`.
 */
export async function connectOurs(settings) {
  const { connect } = await import(settings.module);
  const { port, user, password, fingerprint, algorithms } = settings;
  return connect({
    host: "127.0.0.1",
    port,
    user,
    hostKey: { fingerprint },
    auth: { password },
    algorithms: { kex: algorithms.kex, ciphers: algorithms.ciphers, hostKey: algorithms.hostKey },
  });
}

/** Logs in with the npm `ssh2` client (same settings); resolves to its `Client` once ready. */
export function connectSsh2(settings) {
  const { Client } = createRequire(import.meta.url)("ssh2");
  const { port, user, password, algorithms } = settings;
  return new Promise((resolve, reject) => {
    const connection = new Client();
    connection.on("ready", () => resolve(connection)).on("error", reject);
    connection.connect({
      host: "127.0.0.1",
      port,
      username: user,
      password,
      algorithms: {
        kex: [algorithms.kex],
        cipher: [algorithms.ciphers],
        serverHostKey: [algorithms.hostKey],
        compress: ["none"],
      },
    });
  });
}

/** This process's CPU so far, user + system of every thread, in ms. */
export function cpuMs() {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

/** Prints the result as the last stdout line (what the benchmark parses) and exits. */
export function printResult(result) {
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}
