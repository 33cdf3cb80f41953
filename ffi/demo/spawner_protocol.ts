/**
 * What the DemoServer and its spawner process say to each other, one JSON
 * message per packet (`fd_passing.ts`), and where the spawner's program is.
 *
 * To the spawner: `environment` (store these `NAME=value` strings in a slot),
 * then any number of `spawn` requests naming that slot instead of carrying
 * the environment, each with the command's stdin, stdout and stderr attached
 * (or, on a terminal, its path). From the spawner: `ready` once, then per
 * request `started` (its pid) or `failed` (an errno), and `exited` when a
 * started command ended. The spawner is the commands' parent and reaps them;
 * it exits when its socket reaches end of file, killing what still runs.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** Environment slots the spawner keeps; the DemoServer reuses the least recently used. */
export const ENVIRONMENT_SLOTS = 8;

/**
 * The largest packet either side sends or accepts: a request holds one
 * command line (Linux takes at most 128 KiB per argument) or one environment.
 * It must fit the socket's send buffer (`net.core.wmem_default`, 208 KiB).
 */
export const MAX_PACKET_BYTES = 192 * 1024;

/** Keep these `NAME=value` strings in `slot` (replacing what it held). */
export interface EnvironmentMessage {
  readonly type: "environment";
  readonly slot: number;
  readonly entries: readonly string[];
}

/**
 * Start `argv` (`id`: the DemoServer's number for it). `env` is a slot or
 * the `NAME=value` strings themselves. With `terminal`, the command opens
 * that pty as its controlling terminal; without, three descriptors are
 * attached: its stdin, stdout and stderr.
 */
export interface SpawnMessage {
  readonly type: "spawn";
  readonly id: number;
  readonly argv: readonly string[];
  readonly env: number | readonly string[];
  readonly cwd?: string;
  readonly terminal?: string;
}

/** A message to the spawner. */
export type SpawnerRequest = EnvironmentMessage | SpawnMessage;

/** A message from the spawner. */
export type SpawnerReply =
  | { readonly type: "ready"; readonly pid: number }
  | { readonly type: "started"; readonly id: number; readonly pid: number }
  | { readonly type: "failed"; readonly id: number; readonly errno: number; readonly message: string }
  | {
    readonly type: "exited";
    readonly id: number;
    readonly code: number | null;
    readonly signal: number | null;
  };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message as the bytes of one packet. */
export function encodeMessage(message: SpawnerRequest | SpawnerReply): Uint8Array<ArrayBuffer> {
  return encoder.encode(JSON.stringify(message));
}

/** The message in a packet (`T` is trusted: both ends are this module's). */
export function decodeMessage<T extends SpawnerRequest | SpawnerReply>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}

/**
 * The spawner's program beside this module: the `.ts` source for Deno, the
 * compiled `.js` in the npm build. A path for a local file, else the URL
 * (Deno can run a module from JSR; Node only files).
 */
export function spawnerProgram(): string {
  const url = new URL(
    import.meta.url.endsWith(".js") ? "./spawner_main.js" : "./spawner_main.ts",
    import.meta.url,
  );
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
}
