/**
 * Builds the npm package `libssh` into `npm/` (`deno task build:npm`).
 *
 * The TypeScript compiler (npm `typescript`, with
 * `rewriteRelativeImportExtensions`) turns the Deno sources into ES2022 ES
 * modules plus `.d.ts` files, one `.js` beside each `.ts` path:
 *
 *   npm/mod.js, npm/src/…, npm/ffi/…   the package (listed in `files`)
 *   npm/tests/…, npm/examples/…        the same tests and examples, compiled
 *                                      against the package, never packed
 *
 * then writes `package.json` (version from `deno.json`, koffi as the only
 * dependency), the CommonJS entry points, README.md and LICENSE, and makes
 * `src/demo/cli.js` the `libssh-demo` bin.
 *
 * dnt: JSR (hence `@deno/dnt`) is not reachable here. Switching to dnt means
 * replacing `compile()` with one `build({ entryPoints, outDir: "npm",
 * shims: {}, package, test: false })` call; the `PACKAGE` fields, `postBuild()`
 * and the test layout stay as they are.
 *
 * @module
 */

import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "npm");

/** Files under `dir` (relative to the root) whose names end with `suffix`. */
function filesIn(dir: string, suffix: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(suffix))
    .map((name) => join(ROOT, dir, name))
    .sort();
}

/**
 * The few `Deno` APIs that `ffi/deno.ts` and `ffi/load.ts` use, declared for
 * the TypeScript compiler only (`deno check` uses Deno's own, complete types).
 * Nothing of it reaches the emitted `.d.ts` files.
 */
const DENO_GLOBALS = `
declare namespace Deno {
  interface PointerObject { readonly __brand: "Deno.PointerObject" }
  type PointerValue = PointerObject | null;
  interface UnsafeCallbackDefinition { readonly parameters: readonly string[]; readonly result: string }
  type UnsafeCallbackFunction = (...args: any[]) => unknown;
  const env: { get(key: string): string | undefined };
  const build: { readonly arch: string };
  function dlopen(path: string, symbols: object): { symbols: unknown; close(): void };
  class UnsafePointerView {
    static getCString(pointer: PointerObject): string;
    static getArrayBuffer(pointer: PointerObject, length: number): ArrayBuffer;
    static copyInto(pointer: PointerObject, destination: ArrayBufferView, offset?: number): void;
  }
  class UnsafePointer {
    static value(pointer: PointerValue): number | bigint;
    static create(address: bigint): PointerValue;
    static of(buffer: ArrayBufferView | ArrayBuffer): PointerValue;
  }
  class UnsafeCallback {
    constructor(definition: UnsafeCallbackDefinition, callback: UnsafeCallbackFunction);
    readonly pointer: PointerObject;
    close(): void;
  }
}
`;
const DENO_GLOBALS_FILE = join(OUT, "__deno_globals.d.ts");

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2023.d.ts", "lib.esnext.disposable.d.ts"],
  types: ["node"],
  strict: true,
  declaration: true,
  rewriteRelativeImportExtensions: true,
  rootDir: ROOT,
  outDir: OUT,
  newLine: ts.NewLineKind.LineFeed,
  skipLibCheck: true,
};

/** Compiles the package, the tests and the examples; throws with the diagnostics on any error. */
function compile(): void {
  const roots = [
    join(ROOT, "mod.ts"),
    ...filesIn("src", ".ts"),
    ...filesIn("ffi", ".ts"),
    ...filesIn("tests", ".ts"),
    ...filesIn("examples", ".ts").filter((file) => !file.includes("/examples/deno/")), // Deno.test examples
    DENO_GLOBALS_FILE,
  ];
  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => file === DENO_GLOBALS_FILE || fileExists(file);
  host.readFile = (file) => file === DENO_GLOBALS_FILE ? DENO_GLOBALS : readFile(file);
  host.getSourceFile = (file, language, ...rest) =>
    file === DENO_GLOBALS_FILE
      ? ts.createSourceFile(file, DENO_GLOBALS, language)
      : getSourceFile(file, language, ...rest);
  const program = ts.createProgram(roots, COMPILER_OPTIONS, host);
  const result = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (diagnostics.length > 0) {
    const text = ts.formatDiagnosticsWithColorAndContext(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => "\n",
    });
    throw new Error(`TypeScript reported ${diagnostics.length} problem(s):\n${text}`);
  }
}

const denoJson = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
const workspace = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

/** A CommonJS entry point that loads the ES module, or explains why it cannot. */
function requireEntry(target: string): string {
  return `"use strict";
// CommonJS entry point. Node >= 20.19 (and >= 22.12) loads the ES module
// through require() itself, sharing one instance with \`import\`.
try {
  module.exports = require(${JSON.stringify(target)});
} catch (error) {
  if (error && error.code === "ERR_REQUIRE_ESM") {
    throw new Error(
      "libssh is an ES module, and this Node cannot require() ES modules (Node >= 20.19 or >= 22.12 can): " +
        "use \`import { … } from \\"libssh\\"\` or \`await import(\\"libssh\\")\`",
      { cause: error },
    );
  }
  throw error;
}
`;
}

const PACKAGE = {
  name: "libssh",
  version: denoJson.version,
  description: "SSH servers on the system libssh through FFI (koffi), with a safe, promise-based API " +
    "and a disposable DemoServer for tests",
  license: denoJson.license,
  keywords: ["ssh", "libssh", "ssh-server", "sftp", "ffi", "koffi", "testing"],
  type: "module",
  main: "./cjs/mod.cjs",
  module: "./mod.js",
  types: "./mod.d.ts",
  exports: {
    ".": { types: "./mod.d.ts", import: "./mod.js", require: "./cjs/mod.cjs" },
    "./demo": { types: "./src/demo/mod.d.ts", import: "./src/demo/mod.js", require: "./cjs/demo.cjs" },
    "./package.json": "./package.json",
  },
  bin: { "libssh-demo": "./src/demo/cli.js" },
  files: ["mod.js", "mod.d.ts", "src/", "ffi/", "cjs/", "README.md", "LICENSE"],
  // eventfd and the socket constants in ffi/platform.ts are Linux's.
  os: ["linux"],
  engines: { node: ">=20" },
  dependencies: { koffi: `^${workspace.devDependencies.koffi}` },
};

/** Everything after the compiler: bin, CommonJS entries, test helpers, metadata. */
function postBuild(): void {
  const cli = join(OUT, "src/demo/cli.js");
  writeFileSync(cli, `#!/usr/bin/env node\n${readFileSync(cli, "utf8")}`);
  chmodSync(cli, 0o755);

  mkdirSync(join(OUT, "cjs"), { recursive: true });
  writeFileSync(join(OUT, "cjs/mod.cjs"), requireEntry("../mod.js"));
  writeFileSync(join(OUT, "cjs/demo.cjs"), requireEntry("../src/demo/mod.js"));

  // Test helpers the compiler does not emit (client scripts in other languages, fixtures).
  for (const file of filesIn("tests", "").filter((f) => !f.endsWith(".ts") && statSync(f).isFile())) {
    const target = join(OUT, relative(ROOT, file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
  }

  writeFileSync(join(OUT, "package.json"), JSON.stringify(PACKAGE, null, 2) + "\n");
  const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    .replaceAll(`"${denoJson.name}/demo"`, `"${PACKAGE.name}/demo"`)
    .replaceAll(`"${denoJson.name}"`, `"${PACKAGE.name}"`);
  writeFileSync(join(OUT, "README.md"), readme);
  copyFileSync(join(ROOT, "LICENSE"), join(OUT, "LICENSE"));
}

rmSync(OUT, { recursive: true, force: true });
compile();
postBuild();
console.error(`build:npm: ${PACKAGE.name}@${PACKAGE.version} in ${relative(ROOT, OUT)}/`);
