import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SftpClient, type SftpFile, SshError } from "../mod.ts";
import { FakeSftpServer } from "./support/fake_sftp_server.ts";
import { sftpServerProcess } from "./support/sftp_transports.ts";

/** Every method on an object's prototype chain, but `close` and the dispose symbol (fine after close). */
function methodsOf(object: object): string[] {
  const names = new Set<string>();
  for (
    let proto = Object.getPrototypeOf(object);
    proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
      if (name !== "constructor" && name !== "close" && typeof descriptor.value === "function") {
        names.add(name);
      }
    }
  }
  return [...names];
}

/** The methods of `object` that do not throw or reject SshError "closed" when called with plausible arguments. */
async function notClosed(object: object): Promise<string[]> {
  const wrong: string[] = [];
  const methods = methodsOf(object);
  assert.ok(methods.length >= 5, `only ${methods}`);
  for (const method of methods) {
    try {
      await (object as Record<string, (...args: unknown[]) => unknown>)[method]("/x", "/y", {});
      wrong.push(`${method}: no error`);
    } catch (error) {
      if (!(error instanceof SshError && error.code === "closed")) wrong.push(`${method}: ${error}`);
    }
  }
  return wrong;
}

test("every method of SftpClient and SftpFile throws SshError closed after close(); close() is idempotent", async () => {
  const dir = mkdtempSync(join(tmpdir(), "libssh-sftp-lifetime-"));
  try {
    writeFileSync(`${dir}/f`, "data");
    const sftp = await SftpClient.over(sftpServerProcess());
    const file = await sftp.open(`${dir}/f`, "r+");
    const other = await sftp.open(`${dir}/f`);
    await file.close();
    await file.close();
    assert.deepEqual(await notClosed(file), []);
    await sftp.close();
    await sftp.close();
    assert.equal(sftp.isOpen, false);
    assert.deepEqual(await notClosed(sftp), []);
    assert.deepEqual(await notClosed(other), [], "a file whose client closed");
    await other.close(); // nothing left to release
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("await using closes the client and its files", async () => {
  const server = new FakeSftpServer();
  const closedFiles: number[] = [];
  server.onRequest = (request, self) => {
    if (request.type === 1) return self.send(new Uint8Array([0, 0, 0, 5, 2, 0, 0, 0, 3]));
    const id = new Uint8Array(4);
    new DataView(id.buffer).setUint32(0, request.id!);
    if (request.type === 3) self.send(new Uint8Array([0, 0, 0, 10, 102, ...id, 0, 0, 0, 1, 7])); // HANDLE
    if (request.type === 4) {
      closedFiles.push(request.id!);
      self.send(new Uint8Array([0, 0, 0, 13, 101, ...id, 0, 0, 0, 0, 0, 0, 0, 0])); // STATUS OK
    }
  };
  let file: SftpFile;
  let client: SftpClient;
  {
    await using sftp = await SftpClient.over(server.transport);
    client = sftp;
    {
      await using opened = await sftp.open("/f");
      file = opened;
    }
    assert.equal(closedFiles.length, 1);
    await assert.rejects(file.stat(), (e: SshError) => e.code === "closed");
    assert.ok(sftp.isOpen);
  }
  assert.equal(client.isOpen, false);
  assert.equal(server.closeCalls, 1);
});
