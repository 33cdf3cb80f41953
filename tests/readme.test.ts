import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServer } from "../src/demo/mod.ts";
import { DENO, run, sshWithKey, sshWithPassword } from "./support/clients.ts";
import { repositoryFile, repositoryPath } from "./support/repository.ts";

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

/** The text under one heading of the README (`"## Quick start"`), up to the next heading as high. */
function readmeSection(heading: string): string {
  const lines = readFileSync(repositoryFile("README.md"), "utf8").split("\n");
  const start = lines.indexOf(heading);
  assert.notEqual(start, -1, `no heading ${heading} in the README`);
  const level = heading.indexOf(" ");
  let fenced = false; // a `# comment` in a code block is no heading
  const next = lines.findIndex((line, i) => {
    if (line.startsWith("```")) fenced = !fenced;
    return i > start && !fenced && /^#+ /.test(line) && line.indexOf(" ") <= level;
  });
  return lines.slice(start, next === -1 ? undefined : next).join("\n");
}

/** The fenced code blocks under one heading of the README. */
function readmeBlocks(heading: string): { language: string; code: string }[] {
  return [...readmeSection(heading).matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)]
    .map(([, language, code]) => ({ language, code }));
}

/** A project folder beside the checkout, as the README's Quick start has it. */
function project(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-readme-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The README's `deno.json` for a project beside the checkout, pointed at this checkout. */
function quickStartDenoJson(): string {
  const json = readmeBlocks("## Quick start").find((block) => block.language === "json");
  assert.ok(json, "the Quick start has a deno.json");
  return json.code.replaceAll('"../libssh/', `"${repositoryPath(".")}`);
}

test("the Quick start, run as written from a project beside the checkout, serves until Ctrl-C", async () => {
  using tmp = project();
  const blocks = readmeBlocks("## Quick start");
  writeFileSync(join(tmp.dir, "deno.json"), quickStartDenoJson());
  writeFileSync(join(tmp.dir, "server.ts"), blocks.find((block) => block.language === "ts")!.code);
  const command = blocks.filter((block) => block.language === "sh")
    .flatMap((block) => block.code.split("\n")).find((line) => line.startsWith("deno run "));
  assert.ok(command, "the Quick start says how to run server.ts");
  const args = command.replace(/#.*/, "").trim().split(/\s+/).slice(1);
  const server = spawn(DENO, args, { cwd: tmp.dir, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  server.stderr.on("data", (data) => stderr += data);
  const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)));
  try {
    const printed = await new Promise<string>((resolve, reject) => {
      let stdout = "";
      server.stdout.on("data", (data) => {
        stdout += data;
        if (stdout.includes("\n")) resolve(stdout.split("\n")[0]);
      });
      void exited.then((code) => reject(new Error(`server.ts exited with ${code}: ${stderr}`)));
    });
    const login = await run("bash", ["-c", printed], { timeoutMs: 20_000 });
    assert.equal(login.code, 0, `${printed}\n${login.stderr}`);
    assert.match(login.stdout, /load average/);
    assert.equal(server.exitCode, null, "the server still serves after a client came and went");
    // Ctrl-C: sent by another process (Deno's child_process reports the signals it sends itself).
    assert.equal((await run("kill", ["-INT", String(server.pid)])).code, 0);
    assert.equal(await exited, 0, stderr);
  } finally {
    if (server.exitCode === null) server.kill("SIGKILL");
  }
});

test("a project outside the checkout type-checks: mod.ts by path, and the Quick start's deno.json", async () => {
  using tmp = project();
  writeFileSync(
    join(tmp.dir, "by_path.ts"),
    `import { Bind, SshKey } from ${JSON.stringify(repositoryPath("mod.ts"))};
import { DemoServer } from ${JSON.stringify(repositoryPath("src/demo/mod.ts"))};
await using ds: DemoServer = await DemoServer.start({ hostKey: SshKey.generate("ed25519") });
console.log(ds.port, Bind.name);
`,
  );
  writeFileSync(join(tmp.dir, "deno.json"), quickStartDenoJson());
  writeFileSync(
    join(tmp.dir, "server.ts"),
    readmeBlocks("## Quick start").find((b) => b.language === "ts")!.code,
  );
  const checked = await run(DENO, ["check", "by_path.ts", "server.ts"], { cwd: tmp.dir, timeoutMs: 120_000 });
  assert.equal(checked.code, 0, checked.stderr);
});

test("the README's public-key-only server lets in its authorized keys and nothing else", async () => {
  using tmp = project();
  const key = join(tmp.dir, "id_ed25519");
  const stranger = join(tmp.dir, "stranger");
  for (const file of [key, stranger]) {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
  }
  writeFileSync(join(tmp.dir, "authorized_keys"), readFileSync(`${key}.pub`, "utf8"));
  writeFileSync(join(tmp.dir, "deno.json"), quickStartDenoJson());
  const code = readmeBlocks("### A public-key-only server").find((block) => block.language === "ts")!.code;
  writeFileSync(join(tmp.dir, "keys_server.ts"), code);
  const command = /^\/\/ (deno run .*) keys_server\.ts /m.exec(code)?.[1];
  assert.ok(command, "the example says how to run it");
  const args = [...command.split(/\s+/).slice(1), "keys_server.ts", "authorized_keys", "0"];
  const server = spawn(DENO, args, { cwd: tmp.dir, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  server.stderr.on("data", (data) => stderr += data);
  const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let stdout = "";
      server.stdout.on("data", (data) => {
        stdout += data;
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
        if (match) resolve(Number(match[1]));
      });
      void exited.then((code) => reject(new Error(`keys_server.ts exited with ${code}: ${stderr}`)));
    });
    assert.equal((await sshWithKey(port, key, "hello")).stdout, "you ran hello\n");
    assert.equal((await sshWithKey(port, stranger, "hello")).code, 255);
    const password = await sshWithPassword(port, "foo", "hello");
    assert.equal(password.code, 255);
    assert.match(password.stderr, /Permission denied \(publickey\)/, "only public key auth is offered");
    assert.equal((await run("kill", ["-INT", String(server.pid)])).code, 0);
    assert.equal(await exited, 0, stderr);
  } finally {
    if (server.exitCode === null) server.kill("SIGKILL");
  }
});

test("the README's shell example is examples/shell/demo_server.sh (which the test command runs)", () => {
  const script = readFileSync(repositoryFile("examples/shell/demo_server.sh"), "utf8");
  const blocks = readmeBlocks("## Quick start").filter((block) => block.language === "sh");
  assert.ok(blocks.some((block) => block.code === script));
});

test("every SshErrorCode is explained, in the README and in the type's doc", () => {
  const source = readFileSync(repositoryFile("src/errors.ts"), "utf8");
  const start = source.indexOf("export type SshErrorCode =");
  const union = source.slice(start, source.indexOf('";\n', start)); // to the last member
  const codes = [...union.matchAll(/\| "([a-z-]+)"/g)].map((match) => match[1]);
  assert.ok(codes.length >= 10, `only ${codes.length} codes found`);
  const typeDoc = source.slice(0, start);
  const readme = readmeSection("## Errors");
  for (const code of codes) {
    assert.match(
      typeDoc,
      new RegExp(`^ \\* \\| \`"${code}"\` +\\| [^|\\s]`, "m"),
      `${code} in SshErrorCode's doc`,
    );
    assert.match(
      readme,
      new RegExp(`^\\| \`"${code}"\` +\\| [^|\\s]`, "m"),
      `${code} in the README's Errors table`,
    );
  }
});
