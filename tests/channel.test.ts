/**
 * SshChannel: opening (and refusing) session channels, exec, the client's
 * input (`readable`, `isEof`) and output (`write`, `writable`) with
 * back-pressure both ways.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthStatus, ServerCallbacks, type SshChannel } from "../mod.ts";
import { sshWithPassword } from "./support/clients.ts";
import { execChannel, startServer } from "./support/test_server.ts";

test("a channel-open callback that throws, refuses or returns garbage gives NULL: no channel", async () => {
  const behaviours: (() => SshChannel | null)[] = [
    () => {
      throw new Error("channel handler broke");
    },
    () => null,
    () => "not a channel" as unknown as SshChannel,
  ];
  let opened = 0;
  await using server = startServer({
    serverCallbacks: () =>
      new ServerCallbacks(undefined, {
        onAuthPassword: (_s, _u, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
        onChannelOpenRequestSession: (session) =>
          opened < behaviours.length ? behaviours[opened++]() : execChannel(session, (channel, command) => {
            void channel.write(`ran: ${command}\n`).then(() => channel.sendExitStatus(0))
              .then(() => channel.sendEof()).then(() => channel.close());
          }),
      }),
  });
  for (let i = 0; i < behaviours.length; i++) {
    const refused = await sshWithPassword(server.port, "foo", "echo never");
    assert.deepEqual([refused.code, refused.stdout], [255, ""], `behaviour ${i}: ${refused.stderr}`);
  }
  assert.equal(opened, behaviours.length);
  assert.equal(server.errors.length, 2, "the throw and the garbage are reported");
  assert.deepEqual(
    server.errors.map((e) => e.context),
    ["channelOpenRequestSession", "channelOpenRequestSession"],
  );
  const accepted = await sshWithPassword(server.port, "foo", "after");
  assert.deepEqual([accepted.code, accepted.stdout], [0, "ran: after\n"]);
});

test("ssh exit codes and stdin via the test server", async () => {
  await using server = startServer();
  const result = await sshWithPassword(server.port, "foo", "some command");
  assert.deepEqual([result.stdout, result.code], ["ran: some command\n", 0]);
});
