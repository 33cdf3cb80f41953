/**
 * One port served from every core: one server process per CPU, each with its
 * own `Bind` on the same port (`reusePort`, i.e. `SO_REUSEPORT`), so the
 * kernel spreads the connections among them. The first process picks the
 * port, the others join it; all share one host key, so clients see one server.
 *
 *   deno run -A examples/every_core.ts [processes]
 *
 * Prints one JSON line `{"port", "pids"}` once every process listens; SIGINT
 * or SIGTERM stops them all. Password: "foo". Each server process runs this
 * same file with `EVERY_CORE_PORT` set.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { SshKey } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";

if (process.env.EVERY_CORE_PORT !== undefined) {
  // One server process: any DemoServer or Bind option works the same, with `reusePort: true`.
  const server = await DemoServer.start({
    port: Number(process.env.EVERY_CORE_PORT),
    reusePort: true,
    hostKey: process.env.EVERY_CORE_HOST_KEY,
  });
  console.log(JSON.stringify({ port: server.port }));
  const stop = async (): Promise<void> => {
    await server.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const count = Number(process.argv[2] ?? availableParallelism());
  const dir = mkdtempSync(join(tmpdir(), "every-core-"));
  const hostKey = join(dir, "host_ed25519");
  writeFileSync(hostKey, SshKey.generate("ed25519").toPrivateKeyString(), { mode: 0o600 });
  // This same file, run by this same runtime (`deno run -A …` or `node …`).
  const self = fileURLToPath(import.meta.url);
  const runtime = "Deno" in globalThis ? [process.execPath, "run", "-A", self] : [process.execPath, self];
  const children: ChildProcess[] = [];

  const startServer = (port: number): Promise<number> => {
    const child = spawn(runtime[0], runtime.slice(1), {
      env: { ...process.env, EVERY_CORE_PORT: String(port), EVERY_CORE_HOST_KEY: hostKey },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", (line) => resolve(JSON.parse(line).port));
      child.once("exit", (code) => reject(new Error(`a server process exited with ${code}`)));
    });
  };

  const stopAll = (): void => {
    for (const child of children) child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGTERM", stopAll);
  process.on("SIGINT", stopAll);

  const port = await startServer(0);
  for (let i = 1; i < count; i++) await startServer(port);
  console.log(JSON.stringify({ port, pids: children.map((child) => child.pid) }));
}
