/**
 * Message: requests that reach the message callback, and the replies sent
 * through it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthMethod, type Message, RequestType } from "../mod.ts";
import { ssh2 } from "./support/clients.ts";
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
