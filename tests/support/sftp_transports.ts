/**
 * Byte pipes to real SFTP servers for `SftpClient.over`, without the SSH
 * client: OpenSSH's `sftp-server` as a child process (optionally as the
 * unprivileged user `nobody`), and `ssh -s … sftp` (OpenSSH's client with
 * `sshpass`) to a server such as the DemoServer, whose stdin and stdout
 * carry the subsystem channel. Node streams are turned into web streams,
 * so the same code runs under Deno and Node.
 *
 * @module
 */

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { Readable, Writable } from "node:stream";
import { SftpClient, type SftpClientOptions, type SftpTransport } from "../../mod.ts";
import { DemoServer } from "../../src/demo/mod.ts";
import { scriptCommand, SSH_OPTIONS } from "./clients.ts";

/** OpenSSH's sftp-server binary (Debian's openssh-sftp-server). */
export const SFTP_SERVER = "/usr/lib/openssh/sftp-server";

/** A transport to a child process, with what it printed on stderr and how it ended. */
export interface ProcessTransport extends SftpTransport {
  readonly child: ChildProcessWithoutNullStreams;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<number | string | null>;
}

/** Milliseconds a process has to exit after its stdin closed, before it is killed. */
const EXIT_GRACE_MS = 5_000;

/** Turns a spawned process into a transport; `close` waits for it to exit (killing it, by PID, if it lingers). */
export function processTransport(command: string, args: string[]): ProcessTransport {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  const stderr: Uint8Array[] = [];
  child.stderr.on("data", (chunk) => stderr.push(chunk));
  child.stdin.on("error", () => {}); // a process that ended: the session reports it
  const exited = new Promise<number | string | null>((resolve) => {
    child.once("close", (code, signal) => resolve(code ?? signal));
    child.once("error", (error) => resolve(error.message));
  });
  return {
    child,
    readable: Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>,
    writable: Writable.toWeb(child.stdin),
    stderr: () => Buffer.concat(stderr).toString("utf8"),
    exited,
    close: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.pid && process.kill(child.pid, "SIGKILL"), EXIT_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * `sftp-server` on pipes; `asUser` runs it as that user (through `setpriv`,
 * so that permission checks apply: the tests run as root).
 */
export function sftpServerProcess(options: { asUser?: string } = {}): ProcessTransport {
  return options.asUser
    ? processTransport("setpriv", [
      `--reuid=${options.asUser}`,
      `--regid=${options.asUser === "nobody" ? "nogroup" : options.asUser}`,
      "--clear-groups",
      SFTP_SERVER,
    ])
    : processTransport(SFTP_SERVER, []);
}

/** `sshpass -p PASSWORD ssh -s … tester@127.0.0.1 sftp`: the sftp subsystem of the server on `port`. */
export function sshSubsystem(port: number, password: string): ProcessTransport {
  return processTransport("sshpass", [
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
    "-s",
    "tester@127.0.0.1",
    "sftp",
  ]);
}

/** The two real servers every SFTP test runs against. */
export const SFTP_SERVERS = ["sftp-server on pipes", "DemoServer through ssh -s"] as const;
/** One of `SFTP_SERVERS`. */
export type SftpServerKind = typeof SFTP_SERVERS[number];

/** An `SftpClient` connected to a real server; disposing it closes the client, then the DemoServer if any. */
export interface ConnectedSftp {
  sftp: SftpClient;
  transport: ProcessTransport;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A DemoServer: a port to connect to, and its end. */
interface RunningDemo {
  port: number;
  close(): Promise<void>;
}

/**
 * The DemoServer CLI in a process of its own (where its work cannot delay
 * this process's event loop), stopped with SIGTERM by its PID.
 */
async function startDemoProcess(password: string): Promise<RunningDemo> {
  const [command, args] = scriptCommand(new URL("../../src/demo/cli", import.meta.url), [
    "--password",
    password,
  ]);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const first = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (data) => {
      text += data;
      if (text.includes("\n")) resolve(text.split("\n")[0]);
    });
    child.once(
      "close",
      (code) => reject(new Error(`the DemoServer CLI exited (${code}) before printing its port`)),
    );
  });
  return {
    port: JSON.parse(first).port,
    close: async () => {
      process.kill(child.pid!, "SIGTERM");
      await exited;
    },
  };
}

/**
 * Opens an `SftpClient` to `kind`: sftp-server spawned here, or a
 * DemoServer's subsystem through `ssh -s`; that DemoServer runs in this
 * process unless `demoProcess` asks for the CLI in a process of its own.
 */
export async function connectSftp(
  kind: SftpServerKind,
  options: SftpClientOptions & { demoProcess?: boolean } = {},
): Promise<ConnectedSftp> {
  const password = "sftp-pass";
  const demo: RunningDemo | undefined = kind !== "DemoServer through ssh -s"
    ? undefined
    : options.demoProcess
    ? await startDemoProcess(password)
    : await DemoServer.start({ password });
  const transport = demo ? sshSubsystem(demo.port, password) : sftpServerProcess();
  try {
    const sftp = await SftpClient.over(transport, options);
    return {
      sftp,
      transport,
      [Symbol.asyncDispose]: async () => {
        await sftp.close();
        await demo?.close();
      },
    };
  } catch (error) {
    await demo?.close();
    throw new Error(`${kind}: ${error} (stderr: ${transport.stderr()})`, { cause: error });
  }
}
