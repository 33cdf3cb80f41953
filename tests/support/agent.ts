/**
 * SSH agents for the client tests: a real `ssh-agent` on a private socket,
 * and a fake one that answers late (to show the wait happens off the JS
 * thread). Both stopped with the returned disposer.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { run } from "./clients.ts";
import { sleep } from "./client_fixtures.ts";

/** A running agent: its socket path. */
export interface TestAgent {
  readonly socket: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `ssh-agent -D -a DIR/agent.sock` and adds `keyFiles` to it with `ssh-add`. */
export async function startSshAgent(dir: string, keyFiles: string[]): Promise<TestAgent> {
  const socket = join(dir, "agent.sock");
  const child = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    child.kill("SIGTERM");
    await exited;
  };
  for (let i = 0; !existsSync(socket); i++) {
    if (i > 200) {
      await stop();
      throw new Error("ssh-agent did not create its socket");
    }
    await sleep(10);
  }
  for (const file of keyFiles) {
    const added = await run("ssh-add", [file], { env: { SSH_AUTH_SOCK: socket } });
    if (added.code !== 0) {
      await stop();
      throw new Error(`ssh-add ${file}: ${added.stderr}`);
    }
  }
  return { socket, [Symbol.asyncDispose]: stop };
}

const SSH2_AGENTC_REQUEST_IDENTITIES = 11;
const SSH2_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENT_FAILURE = 5;

/** An agent that holds no key and answers each request after `delayMs`. */
export async function startSlowAgent(dir: string, delayMs: number): Promise<TestAgent> {
  const socket = join(dir, "slow-agent.sock");
  const sockets = new Set<Socket>();
  const server = createServer((connection) => {
    sockets.add(connection);
    connection.on("close", () => sockets.delete(connection));
    connection.on("error", () => {});
    let pending = Buffer.alloc(0);
    connection.on("data", (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
        const type = pending[4];
        pending = pending.subarray(4 + pending.readUInt32BE(0));
        const answer = type === SSH2_AGENTC_REQUEST_IDENTITIES
          ? Buffer.from([0, 0, 0, 5, SSH2_AGENT_IDENTITIES_ANSWER, 0, 0, 0, 0]) // no keys
          : Buffer.from([0, 0, 0, 1, SSH_AGENT_FAILURE]);
        setTimeout(() => connection.destroyed || connection.write(answer), delayMs);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        for (const connection of sockets) connection.destroy();
        server.close(() => resolve());
      }),
  };
}
