/**
 * Files of the repository itself (README, TypeScript sources), found from a
 * test wherever it runs: from the sources under Deno, or compiled into
 * `npm/tests/` under Node, where only the JavaScript is.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository's root: the nearest folder with a `deno.json` above this file. */
export function repositoryRoot(): URL {
  let dir = new URL(".", import.meta.url);
  while (!existsSync(new URL("deno.json", dir))) {
    const parent = new URL("..", dir);
    if (parent.href === dir.href) throw new Error(`no deno.json above ${import.meta.url}`);
    dir = parent;
  }
  return dir;
}

/** A file of the repository, by path from its root (`"README.md"`, `"src/demo/cli.ts"`). */
export function repositoryFile(path: string): URL {
  return new URL(path, repositoryRoot());
}

/** The same as a file system path. */
export function repositoryPath(path: string): string {
  return fileURLToPath(repositoryFile(path));
}
