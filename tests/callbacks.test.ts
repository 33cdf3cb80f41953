import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AuthMethod,
  AuthStatus,
  type ChannelCallbackName,
  ChannelCallbacks,
  PublicKeyState,
  type ServerCallbackName,
  ServerCallbacks,
  SshKey,
} from "../mod.ts";
import { CHANNEL_CALLBACKS, SERVER_CALLBACKS, type SettableField } from "../ffi/structs.ts";
import type { CallbackName } from "../src/_callbacks.ts";
import { sshWithKey, sshWithPassword } from "./support/clients.ts";
import { repositoryFile } from "./support/repository.ts";
import { execChannel, startServer } from "./support/test_server.ts";

test("callback properties belong to each set, though their accessors are shared", () => {
  const onData = (): number => 0;
  const first = new ChannelCallbacks("first", { onData });
  const second = new ChannelCallbacks("second");
  assert.equal(first.onData, onData);
  assert.equal(second.onData, undefined);
  const onEof = (): void => {};
  second.onEof = onEof;
  assert.equal(second.onEof, onEof);
  assert.equal(first.onEof, undefined);
  assert.deepEqual([first.userdata, second.userdata], ["first", "second"]);
  assert.ok("onExecRequest" in first && "onAuthPassword" in new ServerCallbacks());
  assert.equal("onAuthPassword" in first, false, "channel sets have no server callbacks");
});

/** True only when `A` and `B` are the same union (checked when the file is type-checked). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const serverNamesFollowTable: Same<
  ServerCallbackName,
  CallbackName<SettableField<typeof SERVER_CALLBACKS.table>>
> = true;
const channelNamesFollowTable: Same<
  ChannelCallbackName,
  CallbackName<SettableField<typeof CHANNEL_CALLBACKS.table>>
> = true;

test("the callback sets' properties are the settable fields of ffi/structs.ts's tables, onField each", () => {
  assert.ok(serverNamesFollowTable && channelNamesFollowTable);
  const expected = (callbacks: object): string[] =>
    Object.keys(callbacks).map((field) => `on${field[0].toUpperCase()}${field.slice(1)}`);
  const accessors = (prototype: object): string[] => Object.keys(Object.getOwnPropertyDescriptors(prototype));
  assert.deepEqual(accessors(ServerCallbacks.prototype).filter((k) => k !== "constructor"), [
    ...expected(SERVER_CALLBACKS.callbacks),
  ]);
  assert.deepEqual(accessors(ChannelCallbacks.prototype).filter((k) => k !== "constructor"), [
    ...expected(CHANNEL_CALLBACKS.callbacks),
  ]);
  assert.ok(
    !("gssapiSelectOid" in SERVER_CALLBACKS.callbacks),
    "fields the binding never sets have no callback",
  );
});

test("callback properties take functions, and null or undefined to clear them", () => {
  const callbacks = new ServerCallbacks(undefined, { onAuthNone: () => AuthStatus.Denied });
  assert.throws(
    () => (callbacks as unknown as Record<string, unknown>).onAuthPassword = "yes",
    { name: "TypeError", message: "onAuthPassword must be a function" },
  );
  assert.throws(
    () => new ChannelCallbacks(undefined, { onData: 42 as unknown as () => number }),
    { name: "TypeError", message: "onData must be a function" },
  );
  (callbacks as unknown as Record<string, unknown>).onAuthNone = null;
  assert.equal(callbacks.onAuthNone, undefined);
  callbacks.onAuthNone = () => AuthStatus.Success;
  callbacks.onAuthNone = undefined;
  assert.equal(callbacks.onAuthNone, undefined);
});

/** The code of the JSDoc example titled `title` in a source file of the repository. */
function jsdocExample(path: string, title: string): string {
  const source = readFileSync(repositoryFile(path), "utf8");
  const start = source.indexOf(` * @example ${title}\n * \`\`\`ts\n`);
  assert.notEqual(start, -1, `no example "${title}" in ${path}`);
  const end = source.indexOf(" * ```\n", source.indexOf("```ts", start) + 5);
  return source.slice(source.indexOf("\n", source.indexOf("```ts", start)) + 1, end)
    .split("\n").map((line) => line.replace(/^ \* ?/, "")).join("\n");
}

test("the ServerCallbacks JSDoc example logs its key in (probe, then signature) and refuses others", async () => {
  // The example is plain JavaScript once its import line is gone: run it with the imports it names.
  const body = jsdocExample("src/callbacks.ts", "Password and public key auth").replace(/^import .*$/m, "");
  const callbacks = new Function(
    "AuthStatus",
    "PublicKeyState",
    "ServerCallbacks",
    "SshKey",
    `${body}\nreturn callbacks;`,
  )(
    AuthStatus,
    PublicKeyState,
    ServerCallbacks,
    SshKey,
  ) as ServerCallbacks<undefined>;
  callbacks.onChannelOpenRequestSession = (session) =>
    execChannel(session, (channel, command) => {
      void channel.write(`ran: ${command}\n`).then(() => channel.sendExitStatus(0)).then(() =>
        channel.close()
      );
    });
  const dir = mkdtempSync(join(tmpdir(), "libssh-callbacks-"));
  try {
    // The private half of the example's authorized key (OpenSSH wants it readable by its owner only).
    const key = join(dir, "id_ed25519");
    copyFileSync(repositoryFile("tests/fixtures/callbacks_example_ed25519"), key);
    execFileSync("chmod", ["600", key]);
    const stranger = join(dir, "stranger");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger]);
    await using server = startServer({
      serverCallbacks: () => callbacks,
      authMethods: [AuthMethod.PublicKey, AuthMethod.Password],
    });
    assert.equal((await sshWithKey(server.port, key, "by-key")).stdout, "ran: by-key\n");
    assert.equal((await sshWithKey(server.port, stranger, "by-key")).code, 255);
    assert.equal((await sshWithPassword(server.port, "foo", "by-password")).stdout, "ran: by-password\n");
    assert.deepEqual(server.errors, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
