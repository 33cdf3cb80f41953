/**
 * Real SSH clients for the tests, each in its own process: OpenSSH `ssh`
 * (with `sshpass`), the npm `ssh2` client, and Python's paramiko.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** What a client process printed and how it ended. */
export interface ProcessResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | null;
}

/** The Deno executable for child scripts: this one under Deno, the pinned dev dependency otherwise. */
export const DENO: string = process.execPath.endsWith("deno")
  ? process.execPath
  : resolve("node_modules/.bin/deno"); // absolute: children may run in another folder

/**
 * The extension of this copy of the repository's modules: `.ts` when the tests
 * run from the sources (Deno), `.js` when they run compiled beside the npm
 * build (`npm/tests/`, under Node).
 */
export const MODULE_EXTENSION: ".ts" | ".js" = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

/** A module of this repository, given as a URL without extension (`new URL("../mod", import.meta.url)`). */
export function moduleUrl(withoutExtension: URL): URL {
  return new URL(withoutExtension.href + MODULE_EXTENSION);
}

/**
 * The command that runs one of this repository's scripts (URL without
 * extension): `deno run -A x.ts` under Deno, `node x.js` under Node.
 */
export function scriptCommand(withoutExtension: URL, args: string[] = []): [string, string[]] {
  const file = fileURLToPath(moduleUrl(withoutExtension));
  return "Deno" in globalThis ? [DENO, ["run", "-A", file, ...args]] : [process.execPath, [file, ...args]];
}

/** Runs one of this repository's scripts to completion (see `scriptCommand`). */
export function runScript(
  withoutExtension: URL,
  args: string[] = [],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ProcessResult> {
  const [command, commandArgs] = scriptCommand(withoutExtension, args);
  return run(command, commandArgs, options);
}

/**
 * Runs `source`, an ES module in plain JavaScript, in a new process of this
 * runtime: `deno eval` or `node --input-type=module -e`.
 */
export function evalModule(
  source: string,
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ProcessResult> {
  return "Deno" in globalThis
    ? run(DENO, ["eval", "--ext=js", source], options)
    : run(process.execPath, ["--input-type=module", "-e", source], options);
}

/** Runs a command to completion (killed after `timeoutMs`), in `cwd` (default: this process's). */
export function run(
  command: string,
  args: string[],
  options: { input?: string | Uint8Array; timeoutMs?: number; env?: Record<string, string>; cwd?: string } =
    {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
    });
    const stdout: Uint8Array[] = [];
    const stderr: Uint8Array[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.stdout.on("data", (d) => stdout.push(d));
    child.stderr.on("data", (d) => stderr.push(d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        code,
        signal,
      });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(options.input);
  });
}

/** Options common to OpenSSH invocations. */
export const SSH_OPTIONS = [
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  "UserKnownHostsFile=/dev/null",
  "-o",
  "LogLevel=ERROR",
  "-o",
  "ConnectTimeout=10",
];

/** Arguments for `sshpass`: `-p PASSWORD ssh … tester@127.0.0.1 COMMAND`, password auth only. */
export function sshpassArgs(port: number, password: string, command: string, extra: string[] = []): string[] {
  return [
    "-p",
    password,
    "ssh",
    "-p",
    String(port),
    ...SSH_OPTIONS,
    "-o",
    "PreferredAuthentications=password",
    "-o",
    "PubkeyAuthentication=no",
    ...extra,
    "tester@127.0.0.1",
    command,
  ];
}

/** Runs `sshpass -p PASSWORD ssh … COMMAND` (see `sshpassArgs`). */
export function sshWithPassword(
  port: number,
  password: string,
  command: string,
  options: { input?: string | Uint8Array; extra?: string[] } = {},
): Promise<ProcessResult> {
  return run("sshpass", sshpassArgs(port, password, command, options.extra), { input: options.input });
}

/** `ssh -i KEY … user@127.0.0.1 COMMAND` with public key auth only. */
export function sshWithKey(port: number, identity: string, command: string): Promise<ProcessResult> {
  return run("ssh", [
    "-p",
    String(port),
    ...SSH_OPTIONS,
    "-o",
    "BatchMode=yes",
    "-o",
    "PreferredAuthentications=publickey",
    "-o",
    "IdentitiesOnly=yes",
    "-i",
    identity,
    "tester@127.0.0.1",
    command,
  ]);
}

/** Result of the ssh2 client script. */
export interface Ssh2Result {
  ok: boolean;
  error?: string;
  /** Present when at most 64 KiB. */
  stdout?: string;
  stdoutLength?: number;
  stdoutSha256?: string;
  stderr?: string;
  firstOutputMs?: number | null;
  totalMs?: number;
  code?: number | null;
  signal?: string | null;
}

const SSH2_CLIENT = fileURLToPath(new URL("./ssh2_client.mjs", import.meta.url));

/** Runs `tests/support/ssh2_client.mjs` under Node with `options`. */
export async function ssh2(options: Record<string, unknown>): Promise<Ssh2Result> {
  const result = await run("node", [SSH2_CLIENT, JSON.stringify(options)]);
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`ssh2 client printed no result: ${result.stdout} ${result.stderr}`);
  }
}

/** Runs a Python script with Debian's python3 (which has paramiko). */
export function python(script: string, args: string[] = []): Promise<ProcessResult> {
  return run("/usr/bin/python3", ["-c", script, ...args]);
}
