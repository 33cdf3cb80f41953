/**
 * Runs a command on a host the way `ssh host command` does, with the host
 * key checked against known_hosts (an unknown host is refused):
 *
 *   deno run -A examples/client.ts [-p PORT] [-i KEY_FILE] [-o KNOWN_HOSTS] [user@]host command…
 *
 * Logs in with the SSH agent (`SSH_AUTH_SOCK`) and the key files given with
 * `-i`. Prints the command's stdout and stderr as they come and exits with
 * its status (255 when the connection failed, as ssh does).
 *
 * @module
 */

import process from "node:process";
import { connect, SshError } from "../mod.ts";

function usage(): never {
  console.error("usage: client.ts [-p PORT] [-i KEY_FILE] [-o KNOWN_HOSTS] [user@]host command…");
  process.exit(2);
}

const args = process.argv.slice(2);
let port = 22;
const keys: string[] = [];
let knownHosts: string | undefined;
while (args[0]?.startsWith("-")) {
  const [flag, value] = args.splice(0, 2);
  if (value === undefined) usage();
  if (flag === "-p") port = Number(value);
  else if (flag === "-i") keys.push(value);
  else if (flag === "-o") knownHosts = value;
  else usage();
}
const [destination, ...command] = args;
if (!destination || command.length === 0) usage();
const at = destination.lastIndexOf("@");
const user = at >= 0 ? destination.slice(0, at) : undefined;
const host = at >= 0 ? destination.slice(at + 1) : destination;

try {
  await using ssh = await connect({
    host,
    port,
    user,
    hostKey: { knownHosts },
    auth: { privateKey: keys, agent: Boolean(process.env.SSH_AUTH_SOCK) },
  });
  const child = await ssh.spawn(command.join(" "), { stdin: "" });
  const copy = async (stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream): Promise<void> => {
    for await (const chunk of stream) out.write(chunk);
  };
  await Promise.all([copy(child.stdout, process.stdout), copy(child.stderr, process.stderr)]);
  const { exitStatus, exitSignal } = await child.exited;
  if (exitSignal) console.error(`killed by SIG${exitSignal}`);
  process.exitCode = exitStatus ?? 255;
} catch (error) {
  console.error(error instanceof SshError ? `${error.code}: ${error.message}` : error);
  process.exitCode = 255;
}
