import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServer, type TimelineEntry } from "../src/demo/mod.ts";
import { SshKey } from "../mod.ts";
import { run, ssh2, SSH_OPTIONS, sshWithKey, sshWithPassword } from "./support/clients.ts";
import { repositoryFile } from "./support/repository.ts";

/** The README's timeline table: each event with the data fields it documents. */
function documentedEvents(): Map<string, Set<string>> {
  const readme = readFileSync(repositoryFile("README.md"), "utf8");
  const start = readme.indexOf("\n### The timeline\n");
  assert.notEqual(start, -1, "the README documents the timeline");
  const section = readme.slice(start, readme.indexOf("\n#", start + 1));
  const events = new Map<string, Set<string>>();
  for (const [, event, data] of section.matchAll(/^\| `([a-z-]+)` +\| ([^|]*)\|/gm)) {
    events.set(event, new Set([...data.matchAll(/`(\w+)`/g)].map((match) => match[1])));
  }
  return events;
}

/** Entries of one client. */
const entriesOf = (ds: DemoServer, client: number): TimelineEntry[] =>
  ds.timeline.filter((entry) => entry.client === client);

test("every event the DemoServer can record is in the README's timeline table", () => {
  const documented = documentedEvents();
  const recorded = new Set<string>();
  for (const file of readdirSync(repositoryFile("src/demo/"))) {
    const source = readFileSync(repositoryFile(`src/demo/${file}`), "utf8");
    // record("event", …), this.#timeline.record(id ?? 0, "event", …), record(cond ? "a" : "b", …)
    const calls = /record\(\s*(?:[^",()]+,\s*)?(?:[\w.]+\s*\?\s*)?"([a-z-]+)"(?:\s*:\s*"([a-z-]+)")?/g;
    for (const [, first, second] of source.matchAll(calls)) {
      recorded.add(first);
      if (second) recorded.add(second);
    }
  }
  assert.ok(recorded.size >= 30, `only ${recorded.size} events found in src/demo/`);
  assert.deepEqual([...recorded].filter((event) => !documented.has(event)), [], "undocumented events");
  assert.deepEqual(
    [...documented.keys()].filter((event) => !recorded.has(event)),
    [],
    "events never recorded",
  );
  const entryDoc = readFileSync(repositoryFile("src/demo/timeline.ts"), "utf8").split("export interface")[0];
  const undocumented = [...recorded].filter((event) => !entryDoc.includes(`\`${event}\``));
  assert.deepEqual(undocumented, [], "not in TimelineEntry's doc");
});

test("timeline entries carry exactly the documented fields, with true values", async () => {
  const dir = mkdtempSync(join(tmpdir(), "libssh-timeline-"));
  try {
    const keyFile = join(dir, "id");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
    await using ds = await DemoServer.start({ authorizedKeys: [SshKey.fromFile(`${keyFile}.pub`)] });
    const clients = (): number => ds.clients.length;

    assert.equal(
      (await sshWithPassword(ds.port, "foo", "echo plain", { extra: ["-o", "SetEnv=GREETING=hi"] })).code,
      0,
    );
    const plain = clients();
    assert.equal((await sshWithPassword(ds.port, "foo", "tty", { extra: ["-tt"] })).code, 0);
    const terminal = clients();
    assert.equal((await sshWithPassword(ds.port, "foo", "kill -TERM $$")).code, 255);
    const signalled = clients();
    assert.notEqual((await sshWithPassword(ds.port, "wrong", "true")).code, 0);
    assert.equal(
      (await ssh2({ port: ds.port, username: "kbd-user", kbdAnswers: ["foo", "bar"], command: "true" })).ok,
      true,
    );
    const interactive = clients();
    assert.equal((await sshWithKey(ds.port, keyFile, "true")).code, 0);
    const byKey = clients();
    const refused = await sshWithPassword(ds.port, "foo", "", { extra: ["-W", "127.0.0.1:1"] });
    assert.notEqual(refused.code, 0);
    await sshWithPassword(ds.port, "foo", "", { extra: ["-W", `127.0.0.1:${ds.port}`] });
    const sftp = await run("sshpass", [
      "-p",
      "foo",
      "sftp",
      "-P",
      String(ds.port),
      ...SSH_OPTIONS,
      "-o",
      "PreferredAuthentications=password",
      "tester@127.0.0.1",
    ], { input: "pwd\n" });
    assert.equal(sftp.code, 0, sftp.stderr);
    for (const client of ds.clients) await client.closed;

    const exec = (client: number): Record<string, unknown> | undefined =>
      entriesOf(ds, client).find((entry) => entry.event === "exec")?.data;
    assert.deepEqual(exec(plain), { command: "echo plain", pty: false });
    assert.deepEqual(exec(terminal), { command: "tty", pty: true });
    assert.ok(entriesOf(ds, plain).some((entry) => entry.event === "env" && entry.data.name === "GREETING"));
    assert.deepEqual(entriesOf(ds, signalled).find((entry) => entry.event === "exit-signal")?.data, {
      signal: "SIGTERM",
    });
    const kbdint = entriesOf(ds, interactive).filter((entry) => entry.event.startsWith("auth-"));
    assert.deepEqual(kbdint.map((entry) => [entry.event, entry.data]), [
      ["auth-none", { user: "kbd-user", ok: false }], // ssh2 asks which methods there are
      ["auth-kbdint", { user: "kbd-user", step: "prompts" }],
      ["auth-kbdint", { user: "kbd-user", step: "answers", ok: true }],
      ["auth-success", { user: "kbd-user", method: "keyboard-interactive" }],
    ]);
    assert.equal(ds.clients[interactive - 1].user, "kbd-user");
    assert.ok(
      entriesOf(ds, byKey).some((entry) => entry.event === "auth-publickey" && entry.data.signed === true),
    );

    await ds.close();
    const documented = documentedEvents();
    for (const entry of ds.timeline) {
      const fields = documented.get(entry.event);
      assert.ok(fields, `undocumented event ${entry.event}`);
      for (const field of Object.keys(entry.data)) {
        assert.ok(fields.has(field), `${entry.event}: field ${field} is not documented`);
      }
    }
    const seen = new Set(ds.timeline.map((entry) => entry.event));
    for (
      const event of ["forward-refused", "forward-open", "forward-closed", "exit-status", "exit-signal"]
    ) {
      assert.ok(seen.has(event), `no ${event} entry`);
    }
    assert.ok(seen.size >= 20, `only ${seen.size} kinds of event: ${[...seen]}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a client's closed promise resolves once its disconnected entry is in the timeline", async () => {
  await using ds = await DemoServer.start();
  for (let i = 0; i < 20; i++) {
    assert.equal((await sshWithPassword(ds.port, "foo", "true")).code, 0);
    const client = ds.clients.at(-1)!;
    await client.closed;
    assert.equal(entriesOf(ds, client.id).at(-1)?.event, "disconnected");
  }
});
