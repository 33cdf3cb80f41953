import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as c from "../ffi/constants.ts";
import {
  AuthMethod,
  AuthStatus,
  ChannelRequestType,
  ChannelType,
  GlobalRequestType,
  PublicKeyState,
  RequestType,
} from "../mod.ts";
import { repositoryFile } from "./support/repository.ts";

/** Each enum member must equal the generated constant its source comment names. */
async function assertMatchesHeaders(
  file: string,
  enums: Record<string, Record<string, unknown>>,
): Promise<void> {
  const source = await readFile(repositoryFile(file), "utf8");
  const constants = c as Record<string, number>;
  let checked = 0;
  for (const [enumName, values] of Object.entries(enums)) {
    const body = new RegExp(`export enum ${enumName} \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1];
    assert.ok(body, `enum ${enumName} in ${file}`);
    for (const match of body.matchAll(/(\w+) = (-?\d+), \/\/ (\w+)/g)) {
      const [, member, , constant] = match;
      assert.equal(values[member], constants[constant], `${enumName}.${member} = ${constant}`);
      checked++;
    }
  }
  assert.ok(checked > 0);
}

test("auth enums carry libssh's values", async () => {
  await assertMatchesHeaders("src/auth.ts", { AuthMethod, AuthStatus, PublicKeyState });
});

test("message enums carry libssh's values", async () => {
  await assertMatchesHeaders("src/message.ts", {
    RequestType,
    ChannelType,
    GlobalRequestType,
    ChannelRequestType,
  });
});
