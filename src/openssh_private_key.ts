/**
 * Tidies the unencrypted OpenSSH private keys libssh 0.10 writes, so that
 * every reader takes them: libssh pads the private section to 16 bytes where
 * the format says 8 for the "none" cipher (asyncssh rejects more than 7
 * padding bytes), and writes the base64 on one line (OpenSSH wraps at 70).
 *
 * @module
 */

const BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END = "-----END OPENSSH PRIVATE KEY-----";
const MAGIC = "openssh-key-v1\0";
/** The cipher block size the format uses for unencrypted keys. */
const NONE_BLOCK = 8;
const LINE = 70;

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The offset after `count` SSH wire strings (uint32 length + bytes) starting at `offset`. */
function skipStrings(view: DataView, offset: number, count: number): number {
  for (let i = 0; i < count; i++) offset += 4 + view.getUint32(offset);
  return offset;
}

/**
 * Returns `text` with the private section padded to 8 bytes and the base64
 * wrapped at 70 columns, when it is an unencrypted OpenSSH key; any other
 * text is returned as it is.
 */
export function normalizeOpenSshPrivateKey(text: string): string {
  const trimmed = text.trim();
  if (!trimmed.startsWith(BEGIN) || !trimmed.endsWith(END)) return text;
  const bytes = fromBase64(trimmed.slice(BEGIN.length, -END.length).replace(/\s+/g, ""));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) return text;
  let offset = MAGIC.length;
  const cipherLength = view.getUint32(offset);
  const cipher = new TextDecoder().decode(bytes.subarray(offset + 4, offset + 4 + cipherLength));
  if (cipher !== "none") return text;
  offset = skipStrings(view, offset, 3); // cipher, kdf name, kdf options
  const keys = view.getUint32(offset);
  offset = skipStrings(view, offset + 4, keys); // the public keys
  const sectionStart = offset + 4;
  const section = bytes.subarray(sectionStart, sectionStart + view.getUint32(offset));
  // The padding is 1, 2, …, n: its last byte is its length.
  const padding = section.at(-1) ?? 0;
  const content = section.subarray(0, section.length - padding);
  const wanted = (NONE_BLOCK - (content.length % NONE_BLOCK)) % NONE_BLOCK;
  const repadded = new Uint8Array(sectionStart + content.length + wanted);
  repadded.set(bytes.subarray(0, offset));
  new DataView(repadded.buffer).setUint32(offset, content.length + wanted);
  repadded.set(content, sectionStart);
  for (let i = 0; i < wanted; i++) repadded[sectionStart + content.length + i] = i + 1;
  const base64 = toBase64(repadded);
  const lines = [];
  for (let i = 0; i < base64.length; i += LINE) lines.push(base64.slice(i, i + LINE));
  return `${BEGIN}\n${lines.join("\n")}\n${END}\n`;
}
