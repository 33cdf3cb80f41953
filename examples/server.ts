/**
 * A small SSH server written only with the public API:
 * password and public key auth (server callbacks), keyboard-interactive auth
 * (message callback), and exec through `sh -c` (channel callbacks).
 *
 *   deno run -A examples/server.ts [port] [authorized_keys file]
 *
 * Prints `listening on 127.0.0.1:<port>` once ready. Password: "foo";
 * keyboard-interactive answers: "foo", then "bar".
 *
 * @module
 */

import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  AuthMethod,
  AuthStatus,
  Bind,
  ChannelCallbacks,
  listen,
  type Message,
  PublicKeyState,
  RequestType,
  ServerCallbacks,
  type Session,
  SessionEvent,
  SshChannel,
  SshKey,
} from "../mod.ts";

const port = Number(process.argv[2] ?? 0);
const authorized = process.argv[3] ? [SshKey.fromFile(process.argv[3])] : [];

function runCommand(channel: SshChannel, command: string): void {
  const child = spawn("sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"] });
  const pumps = [
    (async () => {
      for await (const chunk of child.stdout) await channel.write(chunk);
    })(),
    (async () => {
      for await (const chunk of child.stderr) await channel.write(chunk, { stderr: true });
    })(),
  ];
  // The client's data through the channel's stream: while the command does not read, nothing more is taken
  // and the client's window closes (back-pressure), so a client cannot make the server hold its upload.
  child.stdin.on("error", () => {}); // the command may exit without reading its input
  void (async () => {
    try {
      for await (const chunk of channel.readable) {
        if (!child.stdin.write(chunk)) await once(child.stdin, "drain");
      }
    } catch { /* the client went away */ }
    child.stdin.end();
  })();
  child.on("close", async (code, signal) => {
    await Promise.allSettled(pumps);
    if (!channel.isOpen) return;
    if (signal) await channel.sendExitSignal(signal);
    else await channel.sendExitStatus(code ?? 0);
    await channel.sendEof();
    await channel.close();
  });
}

const serverCallbacks = new ServerCallbacks(undefined, {
  onAuthPassword: (_session, _user, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
  onAuthPubkey: (_session, _user, key, state) => {
    if (!authorized.some((k) => k.equals(key))) return AuthStatus.Denied;
    return state === PublicKeyState.None || state === PublicKeyState.Valid
      ? AuthStatus.Success
      : AuthStatus.Denied;
  },
  onChannelOpenRequestSession: (session) => {
    const channel = new SshChannel(session);
    channel.setCallbacks(
      new ChannelCallbacks(undefined, {
        onExecRequest: (_session, ch, command) => {
          runCommand(ch, command);
          return true;
        },
      }),
    );
    return channel;
  },
});

function onMessage(_session: Session, message: Message): boolean {
  if (message.type !== RequestType.Auth || message.subtype !== AuthMethod.Interactive) return true;
  if (!message.isKbdintResponse) {
    message.sendInteractivePrompts({ prompts: [{ prompt: "Password: " }, { prompt: "Token: " }] });
  } else if (message.kbdintAnswers.join("\n") === "foo\nbar") {
    message.replyAuthSuccess();
  } else {
    message.setAuthMethods([AuthMethod.Password, AuthMethod.PublicKey, AuthMethod.Interactive]);
    message.replyDefault();
  }
  return false;
}

await using bind = new Bind({
  port,
  hostKey: SshKey.generate("ed25519"),
  authMethods: [AuthMethod.Password, AuthMethod.PublicKey, AuthMethod.Interactive],
});
bind.setMessageCallback(onMessage);
console.log(`listening on 127.0.0.1:${bind.port}`);
process.on("SIGTERM", () => void bind.close());
process.on("SIGINT", () => void bind.close());

await listen(async (session) => {
  session.setServerCallbacks(serverCallbacks);
  if (!await session.handleKeyExchange()) return;
  using _event = new SessionEvent(session);
  await session.disconnected;
}, bind);
