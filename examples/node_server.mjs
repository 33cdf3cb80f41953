// @ts-check
import {
  AuthStatus,
  Bind,
  ChannelCallbacks,
  listen,
  ServerCallbacks,
  SessionEvent,
  SshChannel,
  SshKey,
} from "libssh";

const bind = new Bind({ port: Number(process.argv[2] ?? 2222), hostKey: SshKey.generate("ed25519") });
process.once("SIGINT", () => void bind.close()); // stop accepting: listen() returns
process.once("SIGTERM", () => void bind.close());
console.log(`listening on 127.0.0.1:${bind.port}`);

await listen(async (session) => {
  session.setServerCallbacks(
    new ServerCallbacks(undefined, {
      onAuthPassword: (_s, _user, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
      onChannelOpenRequestSession: (s) => {
        const channel = new SshChannel(s);
        channel.setCallbacks(
          new ChannelCallbacks(undefined, {
            onExecRequest: (_s, ch, command) => {
              void ch.write(`you ran ${command}\n`)
                .then(() => ch.sendExitStatus(0)).then(() => ch.sendEof()).then(() => ch.close());
              return true;
            },
          }),
        );
        return channel;
      },
    }),
  );
  if (!await session.handleKeyExchange()) return;
  const event = new SessionEvent(session); // processes this session's packets
  try {
    await session.disconnected;
  } finally {
    event.close();
  }
}, bind);
