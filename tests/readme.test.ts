import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { DemoServer } from "../src/demo/mod.ts";
import { run } from "./support/clients.ts";
import { repositoryFile } from "./support/repository.ts";

// What a new user copies from the documentation must work as written.

/** The documentation and example files a user reads: README, sources (JSDoc), examples. */
function documentationFiles(): string[] {
  const under = (dir: string): string[] =>
    readdirSync(repositoryFile(dir), { recursive: true, encoding: "utf8" }).map((name) => `${dir}/${name}`)
      .filter((path) => /\.(ts|mjs|py|sh|md)$/.test(path));
  return ["README.md", "CONTRIBUTING.md", ...under("src"), ...under("examples")];
}

/** Every `sshpass` command line in `text`, with shell line continuations joined. */
function sshpassLines(text: string): string[] {
  return text.replace(/\\\n\s*/g, "").split("\n").filter((line) => /\bsshpass -p [^\s…]+ ssh /.test(line));
}

test("every documented sshpass line logs in with password auth only, without known_hosts prompts", () => {
  const lines = documentationFiles().flatMap((path) =>
    sshpassLines(readFileSync(repositoryFile(path), "utf8")).map((line) => ({ path, line }))
  );
  assert.ok(lines.length >= 5, `only ${lines.length} sshpass lines found`);
  for (const { path, line } of lines) {
    // OpenSSH tries keyboard-interactive before password: sshpass answers `Password:`,
    // then hangs at the DemoServer's second prompt (`Token:`).
    assert.match(line, /-o PreferredAuthentications=password\b/, `${path}: ${line}`);
    // A fresh host key on every start: a known_hosts check would stop sshpass (exit 6).
    assert.match(line, /-o UserKnownHostsFile=\S+/, `${path}: ${line}`);
  }
});

test("the sshpass lines that examples print run as printed", async () => {
  const templates = documentationFiles().flatMap((path) =>
    sshpassLines(readFileSync(repositoryFile(path), "utf8"))
      // In a template literal (`console.log(\`sshpass …\`)`) or a comment (`// sshpass …`).
      .map((line) => (/`(sshpass -p [^`]*)`/.exec(line) ?? /\/\/ (sshpass -p .*)$/.exec(line))?.[1])
      .filter((template) => template?.includes("${ds.port}"))
      .map((template) => ({ path, template: template! }))
  );
  assert.ok(templates.length >= 3, `only ${templates.length} printed lines found`);
  for (const { path, template } of templates) {
    const password = /sshpass -p (\S+)/.exec(template)![1];
    await using ds = await DemoServer.start({ password });
    // The example's own template literal, evaluated with a live server as `ds`.
    const command = new Function("ds", `return \`${template}\`;`)(ds) as string;
    const result = await run("bash", ["-c", command], { timeoutMs: 20_000 });
    assert.equal(result.code, 0, `${path}: ${command}\n${result.stderr}`);
    assert.equal(ds.clients[0]?.authMethod, "password", `${path}: ${command}`);
  }
});
