/**
 * The DemoServer as a command, for tests written in any language.
 *
 *   deno run -A src/demo/cli.ts [--host ADDR] [--port N] [--reuse-port] [--password PW]
 *     [--auth METHODS] [--allow-auth-none] [--authorized-keys FILE] [--host-key FILE]
 *     [--kex LIST] [--ciphers LIST] [--hmac LIST] [--hostkey-algorithms LIST]
 *     [--spawner auto|always|never] [--verbose] [--timeline]
 *
 * The first line on stdout is one JSON object:
 * `{"host","port","password","hostKeyFingerprint","knownHosts"}`. Runs until
 * SIGINT or SIGTERM, then closes every connection and exits 0 (printing the
 * timeline on stderr with `--timeline`). Bad flags: usage on stderr, exit 2.
 *
 * `--auth` is a comma-separated list of the auth methods to offer (default
 * `password,keyboard-interactive,publickey`): `--auth password` for clients
 * that try keyboard-interactive first and cannot answer its prompts (PuTTY's
 * `plink -batch`, dropbear's `dbclient`, `sshpass` without
 * `-o PreferredAuthentications=password`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type DemoAuthMethod, DemoServer } from "./demo_server.ts";

const USAGE = `usage: demo [--host ADDR] [--port N] [--reuse-port] [--password PW] [--auth METHODS]
            [--allow-auth-none] [--authorized-keys FILE] [--host-key FILE] [--kex LIST]
            [--ciphers LIST] [--hmac LIST] [--hostkey-algorithms LIST]
            [--spawner auto|always|never] [--verbose] [--timeline]
  --auth: comma-separated, from password,keyboard-interactive,publickey,none
          (default password,keyboard-interactive,publickey)
  --spawner: where commands are spawned from (default auto, see DemoServerOptions.spawner)`;
const AUTH_NAMES = ["password", "keyboard-interactive", "publickey", "none"];

function fail(message: string): never {
  console.error(`demo: ${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      "reuse-port": { type: "boolean", default: false },
      password: { type: "string", default: "foo" },
      auth: { type: "string" },
      "allow-auth-none": { type: "boolean", default: false },
      "authorized-keys": { type: "string" },
      "host-key": { type: "string" },
      kex: { type: "string" },
      ciphers: { type: "string" },
      hmac: { type: "string" },
      "hostkey-algorithms": { type: "string" },
      spawner: { type: "string", default: "auto" },
      verbose: { type: "boolean", default: false },
      timeline: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port > 65535) {
  fail(`--port must be a number from 0 to 65535, not ${values.port}`);
}

const SPAWNER_MODES = ["auto", "always", "never"];
if (!SPAWNER_MODES.includes(values.spawner)) {
  fail(`--spawner must be auto, always or never, not ${values.spawner}`);
}

const authMethods = values.auth?.split(",").map((name) => name.trim());
const unknown = authMethods?.find((name) => !AUTH_NAMES.includes(name));
if (unknown !== undefined) fail(`--auth: unknown method ${JSON.stringify(unknown)}`);

let ds: DemoServer;
try {
  ds = await DemoServer.start({
    host: values.host,
    port,
    reusePort: values["reuse-port"],
    password: values.password,
    authMethods: authMethods as DemoAuthMethod[] | undefined,
    allowAuthNone: values["allow-auth-none"],
    authorizedKeys: values["authorized-keys"],
    hostKey: values["host-key"],
    algorithms: {
      kex: values.kex,
      ciphers: values.ciphers,
      hmac: values.hmac,
      hostKey: values["hostkey-algorithms"],
    },
    spawner: values.spawner as "auto" | "always" | "never",
    verbose: values.verbose,
  });
} catch (error) {
  console.error(`demo: ${(error as Error).message}`);
  process.exit(1);
}

console.log(JSON.stringify({
  host: ds.host,
  port: ds.port,
  password: ds.password,
  hostKeyFingerprint: ds.fingerprint,
  knownHosts: ds.knownHostsLine,
}));
if (ds.authMethods.includes("password")) {
  console.log(
    `connect with: sshpass -p ${ds.password} ssh -p ${ds.port} -o PreferredAuthentications=password -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null user@${ds.host}`,
  );
}

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await ds.close();
  if (values.timeline) ds.printTimeline((text) => console.error(text));
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
