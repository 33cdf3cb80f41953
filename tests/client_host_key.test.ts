import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as c from "../ffi/constants.ts";
import { ClientSession, connect, KnownHosts, SshKey } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { knownHostsFile, rejectsWith, scratch } from "./support/client_fixtures.ts";
import { startSshd } from "./support/sshd.ts";

test("sshd: an empty known_hosts refuses the host (host-key-unknown) before any authentication reaches it", async () => {
  await using sshd = await startSshd();
  using tmp = scratch();
  const knownHosts = knownHostsFile(tmp.dir);
  const error = await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { knownHosts, global: false },
      auth: { privateKey: sshd.clientKeyFile },
    }),
    "host-key-unknown",
  );
  assert.match(error.message, new RegExp(sshd.fingerprint.replace(/[+/]/g, "\\$&")));
  await new Promise((resolve) => setTimeout(resolve, 200)); // sshd logs the closed connection
  assert.match(sshd.log(), /Connection closed by 127\.0\.0\.1|Disconnected from 127\.0\.0\.1/);
  assert.doesNotMatch(sshd.log(), /authenticating user|Accepted|Failed|userauth/i);
});

test("sshd: the known_hosts line is accepted, another key is host-key-changed", async () => {
  await using sshd = await startSshd();
  using tmp = scratch();
  const auth = { privateKey: sshd.clientKeyFile };
  const good = knownHostsFile(tmp.dir, sshd.knownHostsLine);
  {
    await using ssh = await connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { knownHosts: good, global: false },
      auth,
    });
    assert.equal(ssh.knownHostsStatus(), KnownHosts.Ok);
    assert.equal(ssh.knownHostsEntry().split(" ").slice(0, 3).join(" "), sshd.knownHostsLine);
  }
  using other = SshKey.generate("ed25519");
  const bad = knownHostsFile(tmp.dir, `[127.0.0.1]:${sshd.port} ${other.toPublicKeyString()}`);
  await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { knownHosts: bad, global: false },
      auth,
    }),
    "host-key-changed",
  );
  using rsa = SshKey.generate("rsa", { bits: 2048 });
  const otherType = knownHostsFile(tmp.dir, `[127.0.0.1]:${sshd.port} ${rsa.toPublicKeyString()}`);
  await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { knownHosts: otherType, global: false },
      auth,
    }),
    "host-key-changed",
  );
});

test("sshd: fingerprint pin (ssh-keygen's text) is accepted, another fingerprint is host-key-rejected", async () => {
  await using sshd = await startSshd();
  const auth = { privateKey: sshd.clientKeyFile };
  {
    await using ssh = await connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { fingerprint: sshd.fingerprint },
      auth,
    });
    assert.equal((await ssh.run("echo pinned")).stdoutText, "pinned\n");
  }
  using other = SshKey.generate("ed25519");
  await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { fingerprint: other.fingerprint() },
      auth,
    }),
    "host-key-rejected",
  );
});

test("DemoServer: knownHostsLine accepted; key pin, verify callback and accept-new", async () => {
  await using ds = await DemoServer.start();
  using tmp = scratch();
  const auth = { password: "foo" };
  {
    await using ssh = await connect({
      host: "127.0.0.1",
      port: ds.port,
      user: "tester",
      hostKey: { knownHosts: knownHostsFile(tmp.dir, ds.knownHostsLine), global: false },
      auth,
    });
    assert.equal((await ssh.run("echo known")).stdoutText, "known\n");
  }
  // Pinned key, as an SshKey and as a public key line.
  for (const key of [ds.hostKey, ds.hostKey.toPublicKeyString()]) {
    await using ssh = await connect({
      host: "127.0.0.1",
      port: ds.port,
      user: "tester",
      hostKey: { key },
      auth,
    });
    assert.ok(ssh.isAuthenticated);
  }
  using other = SshKey.generate("ed25519");
  await rejectsWith(
    connect({ host: "127.0.0.1", port: ds.port, user: "tester", hostKey: { key: other }, auth }),
    "host-key-rejected",
  );
  // verify() sees the key and what known_hosts says; false refuses.
  const seen: { fingerprint: string; status: KnownHosts; port: number }[] = [];
  const verify = (key: SshKey, info: { status: KnownHosts; port: number }): boolean => {
    seen.push({ fingerprint: key.fingerprint(), status: info.status, port: info.port });
    return seen.length === 1;
  };
  const verifying = new ClientSession({
    host: "127.0.0.1",
    port: ds.port,
    user: "tester",
    hostKey: { verify },
  });
  await verifying.connect();
  await verifying.close();
  await rejectsWith(
    connect({ host: "127.0.0.1", port: ds.port, user: "tester", hostKey: { verify: () => false }, auth }),
    "host-key-rejected",
  );
  assert.deepEqual(seen[0], {
    fingerprint: ds.hostKey.fingerprint(),
    status: KnownHosts.Unknown,
    port: ds.port,
  });
  // accept-new: an unknown host is trusted once and written down.
  const fresh = join(tmp.dir, "new", "known_hosts");
  {
    await using ssh = await connect({
      host: "127.0.0.1",
      port: ds.port,
      user: "tester",
      hostKey: { knownHosts: fresh, global: false, unknown: "accept-new" },
      auth,
    });
    assert.ok(ssh.isAuthenticated);
  }
  assert.ok(existsSync(fresh));
  assert.equal(readFileSync(fresh, "utf8").trim(), ds.knownHostsLine);
  // Now known: a changed key is refused even with accept-new.
  await using impostor = await DemoServer.start({ port: 0 });
  writeFileSync(fresh, `[127.0.0.1]:${impostor.port} ${ds.hostKey.toPublicKeyString()}\n`);
  await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: impostor.port,
      user: "tester",
      hostKey: { knownHosts: fresh, global: false, unknown: "accept-new" },
      auth,
    }),
    "host-key-changed",
  );
});

test("DemoServer: an unknown host is refused before any auth request reaches the server", async () => {
  await using ds = await DemoServer.start();
  using tmp = scratch();
  await rejectsWith(
    connect({
      host: "127.0.0.1",
      port: ds.port,
      user: "tester",
      hostKey: { knownHosts: knownHostsFile(tmp.dir), global: false },
      auth: { password: "foo" },
    }),
    "host-key-unknown",
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  const events = ds.timeline.map((entry) => entry.event);
  assert.ok(events.includes("kex-done"), events.join(" "));
  assert.deepEqual(events.filter((event) => event.startsWith("auth")), []);
});

test("KnownHosts has libssh's values", () => {
  assert.deepEqual(
    [
      KnownHosts.Error,
      KnownHosts.NotFound,
      KnownHosts.Unknown,
      KnownHosts.Ok,
      KnownHosts.Changed,
      KnownHosts.Other,
    ],
    [
      c.SSH_KNOWN_HOSTS_ERROR,
      c.SSH_KNOWN_HOSTS_NOT_FOUND,
      c.SSH_KNOWN_HOSTS_UNKNOWN,
      c.SSH_KNOWN_HOSTS_OK,
      c.SSH_KNOWN_HOSTS_CHANGED,
      c.SSH_KNOWN_HOSTS_OTHER,
    ],
  );
});
