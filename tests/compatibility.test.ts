/**
 * The options kept for LibSSH.jl parity (README "Compatibility options"):
 * `new Bind({ key })`, `listen(…, { pollTimeout })`, `message.deny()`,
 * `event.close({ unsafe })`, used together by a real client's login.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthMethod, Bind, listen, RequestType, SessionEvent, SshKey } from "../mod.ts";
import { run, sshpassArgs } from "./support/clients.ts";

test("compatibility options: Bind({ key }), pollTimeout, deny() and close({ unsafe }) serve a client", async () => {
  await using bind = new Bind({
    port: 0,
    key: SshKey.generate("ed25519"),
    authMethods: [AuthMethod.Password],
  });
  const denied: string[] = [];
  bind.setMessageCallback((_session, message) => {
    if (message.type !== RequestType.Auth || message.subtype !== AuthMethod.Password) return true;
    denied.push(`${message.authUser}:${message.authPassword}`);
    message.deny();
    return false;
  });
  let handled!: (closedUnsafely: boolean) => void;
  const closedUnsafely = new Promise<boolean>((resolve) => handled = resolve);
  const done = listen(
    async (session) => {
      if (!await session.handleKeyExchange()) return handled(false);
      const event = new SessionEvent(session);
      await session.disconnected;
      event.close({ unsafe: true });
      handled(!event.isAssigned);
    },
    bind,
    { pollTimeout: 5 },
  );
  const client = await run(
    "sshpass",
    sshpassArgs(bind.port, "guess", "true", ["-o", "NumberOfPasswordPrompts=1"]),
    {
      timeoutMs: 20_000,
    },
  );
  assert.notEqual(client.code, 0, "the denied client must not log in");
  assert.match(client.stderr, /Permission denied/, client.stderr);
  assert.ok(denied.length >= 1 && denied.every((entry) => entry.endsWith(":guess")), String(denied));
  assert.equal(await closedUnsafely, true, "event.close({ unsafe: true }) frees the event");
  await bind.close(); // ends listen() at once, whatever pollTimeout says
  await done;
});
