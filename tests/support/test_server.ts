/**
 * An in-process server for the tests, built from the public API, with hooks
 * to replace each part.
 *
 * @module
 */

import {
  AuthMethod,
  AuthStatus,
  Bind,
  ChannelCallbacks,
  listen,
  type MessageCallback,
  ServerCallbacks,
  type ServerLimits,
  type Session,
  SessionEvent,
  SshChannel,
  SshKey,
} from "../../mod.ts";

/** A reported callback error. */
export interface ReportedError {
  error: unknown;
  context: string;
}

/** Options of `startServer`. */
export interface TestServerOptions {
  /** Server callbacks per session (default: password "foo", exec handled by `onExec`). */
  serverCallbacks?: (session: Session) => ServerCallbacks<undefined>;
  messageCallback?: MessageCallback;
  authMethods?: AuthMethod[];
  /** The Bind's limits (default: the library's defaults). */
  limits?: ServerLimits;
  /** Answers an exec request (default: writes `ran: <command>\n`, exit status 0). */
  onExec?: (channel: SshChannel, command: string) => void;
}

/** A running test server. */
export interface TestServer {
  readonly port: number;
  readonly bind: Bind;
  readonly hostKey: SshKey;
  readonly sessions: Session[];
  /** The SessionEvent of each session, in order. */
  readonly events: SessionEvent[];
  readonly errors: ReportedError[];
  /** Resolves when `listen()` returned. */
  readonly done: Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function defaultExec(channel: SshChannel, command: string): void {
  void (async () => {
    await channel.write(`ran: ${command}\n`);
    await channel.sendExitStatus(0);
    await channel.sendEof();
    await channel.close();
  })();
}

/** A session channel whose exec requests go to `onExec`. */
export function execChannel(
  session: Session,
  onExec: (channel: SshChannel, command: string) => void,
): SshChannel {
  const channel = new SshChannel(session);
  channel.setCallbacks(
    new ChannelCallbacks(undefined, {
      onExecRequest: (_s, ch, command) => {
        onExec(ch, command);
        return true;
      },
    }),
  );
  return channel;
}

/** Starts a server on 127.0.0.1, port 0. */
export function startServer(options: TestServerOptions = {}): TestServer {
  const hostKey = SshKey.generate("ed25519");
  const bind = new Bind({
    port: 0,
    hostKey,
    authMethods: options.authMethods ?? [AuthMethod.Password],
    limits: options.limits,
  });
  if (options.messageCallback) bind.setMessageCallback(options.messageCallback);
  const sessions: Session[] = [];
  const events: SessionEvent[] = [];
  const errors: ReportedError[] = [];
  const onExec = options.onExec ?? defaultExec;
  const makeCallbacks = options.serverCallbacks ?? (() =>
    new ServerCallbacks(undefined, {
      onAuthPassword: (_s, _u, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
      onChannelOpenRequestSession: (session) => execChannel(session, onExec),
    }));
  const done = listen(
    async (session) => {
      sessions.push(session);
      session.onError = (error, context) => errors.push({ error, context });
      session.setServerCallbacks(makeCallbacks(session));
      if (!await session.handleKeyExchange()) return;
      using event = new SessionEvent(session);
      events.push(event);
      await session.disconnected;
    },
    bind,
    { onError: (error) => errors.push({ error, context: "handler" }) },
  );
  const close = async (): Promise<void> => {
    await bind.close();
    await Promise.all(sessions.map((s) => s.close()));
    await done;
    hostKey.close();
  };
  return {
    port: bind.port,
    bind,
    hostKey,
    sessions,
    events,
    errors,
    done,
    close,
    [Symbol.asyncDispose]: close,
  };
}
