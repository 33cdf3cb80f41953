/**
 * Agent forwarding for the client (`ssh -A`): the session channels of `run`,
 * `spawn` and `shell` ask the server for `auth-agent-req@openssh.com` before
 * their command, and each `auth-agent@openssh.com` channel the server then
 * opens (a program there talking to `$SSH_AUTH_SOCK`) is relayed to the local
 * agent's socket, with back-pressure both ways.
 *
 * libssh gives a client these channel opens through
 * `ssh_callbacks_struct.channel_open_request_auth_agent_function` when that
 * is set, and otherwise through the message callback (`ssh_message_queue`),
 * which the client already has for forwarded-tcpip: one path for both, on
 * every libssh release. The open is answered inside the callback (libssh
 * frees the message after it); the agent's socket is connected afterwards,
 * and a failed connect closes the channel. A session without
 * `agentForwarding` refuses these opens, as it does any it did not ask for.
 *
 * @module
 */

import { createConnection } from "node:net";
import type { Pointer } from "../../ffi/backend.ts";
import { ChannelType, RequestType } from "../message.ts";
import type { ClientSession } from "../client.ts";
import { wrapChannel } from "./client_channel.ts";
import type { ClientCore } from "./client_core.ts";
import { bridgeSocket, ConnectionSet } from "./forwarding.ts";

/** Agent connections relayed at once per session; the server's next opens are refused. */
const MAX_AGENT_CONNECTIONS = 16;

/**
 * The local agent's socket for the `agentForwarding` option (`true`:
 * `SSH_AUTH_SOCK`), or `undefined` when off. Throws TypeError when forwarding
 * is asked for and there is no agent to forward.
 */
export function agentSocketPath(option: boolean | string | undefined): string | undefined {
  if (option === undefined || option === false) return undefined;
  if (typeof option === "string") {
    if (option === "") throw new TypeError("agentForwarding must be true or the agent's socket path");
    return option;
  }
  if (option !== true) throw new TypeError("agentForwarding must be true or the agent's socket path");
  let socket: string | undefined;
  try {
    socket = process.env.SSH_AUTH_SOCK;
  } catch {
    socket = undefined; // Deno without --allow-env
  }
  if (!socket) {
    throw new TypeError("agentForwarding: true needs SSH_AUTH_SOCK (or give the agent's socket path)");
  }
  return socket;
}

/** Relays the server's agent channels of one session to the local agent. */
export class AgentRelay {
  readonly socketPath: string;
  readonly #session: ClientSession;
  readonly #core: ClientCore;
  readonly #connections = new ConnectionSet(MAX_AGENT_CONNECTIONS);

  constructor(session: ClientSession, core: ClientCore, socketPath: string) {
    this.#session = session;
    this.#core = core;
    this.socketPath = socketPath;
    core.onEnd(() => this.#connections.closeAll());
  }

  /**
   * Answers an agent channel open inside the message callback: 0 accepted,
   * 1 refused (libssh's default reply); `undefined` for other messages.
   */
  handleMessage(message: Pointer): number | undefined {
    const { libssh } = this.#core.backend;
    if (
      libssh.ssh_message_type(message) !== RequestType.ChannelOpen ||
      libssh.ssh_message_subtype(message) !== ChannelType.AuthAgent
    ) {
      return undefined;
    }
    if (this.#connections.size >= this.#connections.max) return 1;
    const handle = libssh.ssh_message_channel_request_open_reply_accept(message);
    if (handle === null) return 0;
    const channel = wrapChannel(this.#session, this.#core, handle);
    const entry: { channel: typeof channel; socket?: ReturnType<typeof createConnection> } = { channel };
    this.#connections.add(entry, async () => {
      const socket = createConnection({ path: this.socketPath, allowHalfOpen: true });
      entry.socket = socket;
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("error", reject);
        });
      } catch (error) {
        socket.destroy();
        await channel.close();
        this.#core.onError(error, "agent forwarding: connecting to the agent");
        return;
      }
      await bridgeSocket(channel, socket);
    });
    return 0;
  }
}
