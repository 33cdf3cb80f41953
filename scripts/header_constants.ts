/**
 * Reads the integer constants (enums and numeric `#define`s) of libssh's public
 * headers: what `scripts/gen_constants.ts` writes into `ffi/constants.ts`, and
 * what `tests/structs.test.ts` compares across libssh versions. Runtime-neutral:
 * the caller reads the files.
 *
 * @module
 */

/** The headers read, in order (a constant may use one defined in an earlier header). */
export const HEADERS = ["libssh_version.h", "libssh.h", "server.h", "callbacks.h", "sftp.h"] as const;

/** The constants of one enum, or a run of `#define`s, as they appear in one header. */
export interface ConstantGroup {
  header: string;
  title: string;
  entries: [string, number][];
}

/** Integer constant expressions we accept: literals, negatives, names defined earlier, `<<` and `|`. */
function evaluate(expr: string, known: Map<string, number>): number | undefined {
  const cleaned = expr.replace(/\/\*.*?\*\//g, "").replace(/\/\/.*$/, "").trim();
  if (cleaned === "") return undefined;
  const tokens = cleaned.match(/0x[0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|<<|[|()\-~]/g);
  if (!tokens || tokens.join("") !== cleaned.replace(/\s+/g, "")) return undefined;
  const parts: string[] = [];
  for (const token of tokens) {
    if (/^(0x[0-9a-fA-F]+|\d+)[uUlL]*$/.test(token)) {
      parts.push(String(Number(token.replace(/[uUlL]+$/, ""))));
    } else if (/^[A-Za-z_]/.test(token)) {
      const value = known.get(token);
      if (value === undefined) return undefined;
      parts.push(String(value));
    } else {
      parts.push(token);
    }
  }
  const js = parts.join(" ");
  try {
    const value = new Function(`return (${js});`)() as unknown;
    return typeof value === "number" && Number.isInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Parses enums and numeric `#define`s of one header, in source order. */
function parseHeader(header: string, text: string, known: Map<string, number>): ConstantGroup[] {
  const groups: ConstantGroup[] = [];
  const withoutComments = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
  const pattern =
    /(?:typedef\s+)?enum\s*(\w*)\s*\{([\s\S]*?)\}|^[ \t]*#define[ \t]+(SSH_\w+|LIBSSH_\w+|SFTP_\w+|SSH2?_FX\w*|SSH_FXP\w*)[ \t]+([^\n]+)$/gm;
  let defines: ConstantGroup | undefined;
  for (const match of withoutComments.matchAll(pattern)) {
    if (match[2] !== undefined) {
      defines = undefined;
      const entries: [string, number][] = [];
      let next = 0;
      for (const item of match[2].split(",")) {
        const [name, expr] = item.split("=").map((s) => s.trim());
        if (!name) continue;
        const value = expr === undefined ? next : evaluate(expr, known);
        if (value === undefined) throw new Error(`${header}: cannot evaluate ${name} = ${expr}`);
        entries.push([name, value]);
        known.set(name, value);
        next = value + 1;
      }
      groups.push({ header, title: match[1] ? `enum ${match[1]}` : "anonymous enum", entries });
    } else {
      const name = match[3];
      const value = evaluate(match[4], known);
      if (value === undefined || known.has(name)) continue;
      known.set(name, value);
      if (!defines) {
        defines = { header, title: "#define", entries: [] };
        groups.push(defines);
      }
      defines.entries.push([name, value]);
    }
  }
  return groups;
}

/**
 * The constants of every header in `HEADERS`, grouped as in the headers;
 * `readHeader` returns the text of a header given its file name.
 */
export function headerConstants(readHeader: (header: string) => string): ConstantGroup[] {
  const known = new Map<string, number>();
  return HEADERS.flatMap((header) => parseHeader(header, readHeader(header), known));
}
