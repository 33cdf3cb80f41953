/**
 * Message: requests that reach the message callback, and the replies sent
 * through it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthMethod, type Message, PublicKeyState, RequestType, ServerCallbacks, SshKey } from "../mod.ts";
import { ssh2, sshWithKey, sshWithPassword } from "./support/clients.ts";
import { keyFiles } from "./support/key_files.ts";
import { startServer } from "./support/test_server.ts";

test("a throwing message callback denies keyboard-interactive auth", async () => {
  await using server = startServer({
    authMethods: [AuthMethod.Interactive],
    messageCallback: (_session, message: Message) => {
      if (message.type === RequestType.Auth) throw new Error("kbd-int handler broke");
      return true;
    },
  });
  const result = await ssh2({ port: server.port, kbdAnswers: ["foo", "bar"], command: "x" });
  assert.equal(result.ok, false);
  assert.ok(server.errors.some((e) => e.context === "message callback"));
});

test("replyPublicKeyOk answers the probe: OpenSSH and ssh2 then sign and log in; a key not accepted is never signed", async () => {
  using keys = keyFiles();
  const key = keys.generate("id_authorized");
  const stranger = keys.generate("id_stranger");
  using authorized = SshKey.fromFile(`${key}.pub`);
  const seen: string[] = [];
  await using server = startServer({
    authMethods: [AuthMethod.PublicKey],
    messageCallback: (_session, message) => {
      if (message.type !== RequestType.Auth || message.subtype !== AuthMethod.PublicKey) return true;
      using offered = message.authPublicKey;
      const known = offered.equals(authorized);
      const state = message.authPublicKeyState;
      seen.push(`${known ? "authorized" : "stranger"} ${PublicKeyState[state]}`);
      if (known && state === PublicKeyState.None) message.replyPublicKeyOk();
      else if (known && state === PublicKeyState.Valid) {
        assert.throws(() => message.replyPublicKeyOk(), TypeError, "a signed request is no probe");
        message.replyAuthSuccess();
      } else return true; // libssh's default: refused
      return false;
    },
  });

  const openssh = await sshWithKey(server.port, key, "by-openssh");
  assert.deepEqual([openssh.code, openssh.stdout], [0, "ran: by-openssh\n"], openssh.stderr);
  assert.deepEqual(seen.splice(0), ["authorized None", "authorized Valid"]);

  const viaSsh2 = await ssh2({ port: server.port, privateKeyPath: key, command: "by-ssh2" });
  assert.deepEqual([viaSsh2.ok, viaSsh2.stdout], [true, "ran: by-ssh2\n"], viaSsh2.error);
  assert.deepEqual(seen.splice(0), ["authorized None", "authorized Valid"]);

  assert.equal((await sshWithKey(server.port, stranger, "never")).code, 255);
  assert.equal((await ssh2({ port: server.port, privateKeyPath: stranger, command: "never" })).ok, false);
  assert.deepEqual(
    seen.splice(0),
    ["stranger None", "stranger None"],
    "refused at the probe: no signature sent",
  );
  assert.deepEqual(server.errors, []);
});

test("replyPublicKeyOk on a password request throws TypeError; the client is refused, not left waiting", async () => {
  const thrown: unknown[] = [];
  await using server = startServer({
    authMethods: [AuthMethod.Password],
    serverCallbacks: () => new ServerCallbacks(), // passwords go to the message callback
    messageCallback: (_session, message) => {
      if (message.type !== RequestType.Auth || message.subtype !== AuthMethod.Password) return true;
      try {
        message.replyPublicKeyOk();
      } catch (error) {
        thrown.push(error);
      }
      return true;
    },
  });
  const result = await sshWithPassword(server.port, "foo", "never");
  assert.equal(result.signal, null, "the client waited for an answer until it was killed");
  assert.notEqual(result.code, 0, result.stderr);
  assert.ok(thrown.length >= 1 && thrown.every((e) => e instanceof TypeError), String(thrown));
});
