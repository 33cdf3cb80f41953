/**
 * Layouts of the libssh callback structs this binding fills in, and how they
 * differ between libssh releases.
 *
 * Every such struct starts with `size_t size; void *userdata;` followed by
 * function pointers, 8 bytes each on the 64-bit platforms we support. libssh
 * only calls a function pointer whose offset lies below `size`
 * (`ssh_callbacks_exists`), and newer releases only append fields, so a struct
 * laid out for 0.10 is valid on 0.11 and 0.12 too. `tests/structs.test.ts`
 * compiles a C program against each release's headers and checks the offsets
 * and sizes here.
 *
 * The fields 0.11 and 0.12 append (see each layout) are left out on purpose.
 * 0.12's direct-tcpip and keyboard-interactive server callbacks must answer
 * before they return, as the message callback that delivers the same requests
 * on every release must: they would gain nothing, and a user's message
 * callback would stop seeing those requests on 0.12 only. 0.11's channel
 * open/request response callbacks serve channels this side opens, whose open
 * is already retried after each round of packets on every release.
 *
 * @module
 */

import type { Backend, Pointer } from "./backend.ts";
import { SSH_AUTH_DENIED, SSH_ERROR } from "./constants.ts";
import type { NativeType } from "./symbols.ts";

/** Size of the two leading fields, `size` and `userdata`. */
export const HEADER_BYTES = 16;

/**
 * How `src/` turns a user callback's answer into what libssh expects:
 * `"auth"` an `AuthStatus`; `"accept"` a boolean (0 accepts, -1 refuses);
 * `"channel"` a channel object or null (its native pointer, or NULL);
 * `"consumed"` a byte count (nothing: all of it); `"none"` nothing.
 */
export type AnswerKind = "auth" | "accept" | "channel" | "consumed" | "none";

/** What a callback returns to libssh, in C. */
export type CallbackResult = "i32" | "void" | "pointer";

/** One function pointer field libssh calls, with everything the binding derives from it. */
export interface CallbackField<
  Args extends readonly unknown[] = readonly unknown[],
  Result extends CallbackResult = CallbackResult,
> {
  /** The C member. */
  readonly member: string;
  /** The C parameters, the struct's userdata last. */
  readonly parameters: readonly NativeType[];
  readonly result: Result;
  /**
   * What libssh gets when no handler is set, it throws, or answers nothing
   * usable (null: NULL): never what would let a client in or on.
   */
  readonly safe: number | null | ((args: readonly unknown[]) => number);
  readonly answer: AnswerKind;
  /**
   * The handler's arguments from the C ones (the userdata left out). The
   * session and channel pointers are left out too: a handler knows its owner.
   */
  readonly decode: (backend: Backend, args: readonly unknown[]) => Args;
  /** The data callback: the handler gets the data in pieces, as long as it takes each whole. */
  readonly pieces?: true;
}

/** A field libssh has but the binding never sets: its C member only (it stays NULL). */
export type UnsetField = string;

/** One callback struct: its function pointer fields in order. */
export interface StructLayout<Field extends string> {
  /** The C struct, without `struct`. */
  readonly name: string;
  /** The binding's name of each function pointer field, in C order. */
  readonly fields: readonly Field[];
  /** The C member of each field, by the binding's name. */
  readonly members: Readonly<Record<Field, string>>;
  /** The callback of each field the binding sets. */
  readonly callbacks: Readonly<Partial<Record<Field, CallbackField>>>;
  /** Value of the `size` field: header plus one pointer per field. */
  readonly size: number;
  /**
   * `sizeof` the whole C struct in each libssh release (`major.minor`), the
   * fields newer releases append included: the record of where releases
   * differ, checked against their headers.
   */
  readonly sizeByRelease: Readonly<Record<string, number>>;
}

function layout<const Table extends Record<string, CallbackField | UnsetField>>(
  name: string,
  table: Table,
  sizeByRelease: Record<string, number>,
): StructLayout<keyof Table & string> & { readonly table: Table } {
  type Field = keyof Table & string;
  const fields = Object.keys(table) as Field[];
  const members = {} as Record<Field, string>;
  const callbacks: Partial<Record<Field, CallbackField>> = {};
  for (const field of fields) {
    const entry: CallbackField | UnsetField = table[field];
    members[field] = typeof entry === "string" ? entry : entry.member;
    if (typeof entry !== "string") callbacks[field] = entry;
  }
  return { name, fields, members, callbacks, size: HEADER_BYTES + 8 * fields.length, sizeByRelease, table };
}

/** One table line: the C member, its parameters and result, the safe value, the answer, the decoding. */
function callback<const Args extends readonly unknown[], const Result extends CallbackResult>(
  member: string,
  parameters: readonly NativeType[],
  result: Result,
  safe: CallbackField["safe"],
  answer: AnswerKind,
  decode: (backend: Backend, args: readonly unknown[]) => Args,
): CallbackField<Args, Result> {
  return { member, parameters, result, safe, answer, decode };
}

const P = "pointer" as const;
const cstr = (backend: Backend, p: unknown): string => backend.readCString(p as Pointer) ?? "";
const int = (v: unknown): number => Number(v);
const flag = (v: unknown): boolean => Number(v) !== 0;
/** Channel callbacks that only say something happened. */
const notice = (member: string) => callback(member, [P, P, P], "void", 0, "none", () => [] as const);
/** Channel requests without arguments: 0 accepts, -1 refuses. */
const bareRequest = (member: string) => callback(member, [P, P, P], "i32", -1, "accept", () => [] as const);

/**
 * `struct ssh_server_callbacks_struct`. 0.12 appends
 * `channel_open_request_direct_tcpip_function` and `auth_kbdint_function`.
 */
export const SERVER_CALLBACKS = layout("ssh_server_callbacks_struct", {
  authPassword: callback(
    "auth_password_function",
    [P, P, P, P],
    "i32",
    SSH_AUTH_DENIED,
    "auth",
    (b, [_s, user, password]) => [cstr(b, user), cstr(b, password)] as const,
  ),
  authNone: callback(
    "auth_none_function",
    [P, P, P],
    "i32",
    SSH_AUTH_DENIED,
    "auth",
    (b, [_s, user]) => [cstr(b, user)] as const,
  ),
  authGssapiMic: callback(
    "auth_gssapi_mic_function",
    [P, P, P, P],
    "i32",
    SSH_AUTH_DENIED,
    "auth",
    (b, [_s, user, principal]) => [cstr(b, user), cstr(b, principal)] as const,
  ),
  // The key is borrowed: valid during the call only.
  authPubkey: callback(
    "auth_pubkey_function",
    [P, P, P, "i8", P],
    "i32",
    SSH_AUTH_DENIED,
    "auth",
    (b, [_s, user, key, state]) => [cstr(b, user), key as Pointer, int(state)] as const,
  ),
  serviceRequest: callback(
    "service_request_function",
    [P, P, P],
    "i32",
    SSH_ERROR,
    "accept",
    (b, [_s, service]) => [cstr(b, service)] as const,
  ),
  channelOpenRequestSession: callback(
    "channel_open_request_session_function",
    [P, P],
    "pointer",
    null,
    "channel",
    () => [] as const,
  ),
  gssapiSelectOid: "gssapi_select_oid_function",
  gssapiAcceptSecCtx: "gssapi_accept_sec_ctx_function",
  gssapiVerifyMic: "gssapi_verify_mic_function",
}, { "0.10": 88, "0.11": 88, "0.12": 104 });

/**
 * `struct ssh_channel_callbacks_struct`. 0.11 appends
 * `channel_open_response_function` and `channel_request_response_function`
 * (for channels this side opens).
 */
export const CHANNEL_CALLBACKS = layout("ssh_channel_callbacks_struct", {
  data: {
    ...callback(
      "channel_data_function",
      [P, P, P, "u32", "i32", P],
      "i32",
      (args) => int(args[3]), // consume (drop) it: unhandled data must not stall the channel
      "consumed",
      (b, [_s, _c, data, length, isStderr]) =>
        [b.readBytes(data as Pointer, int(length)), flag(isStderr)] as const,
    ),
    pieces: true,
  },
  eof: notice("channel_eof_function"),
  close: notice("channel_close_function"),
  signal: callback(
    "channel_signal_function",
    [P, P, P, P],
    "void",
    0,
    "none",
    (b, [_s, _c, signal]) => [cstr(b, signal)] as const,
  ),
  exitStatus: callback(
    "channel_exit_status_function",
    [P, P, "i32", P],
    "void",
    0,
    "none",
    (_b, [_s, _c, status]) => [int(status)] as const,
  ),
  exitSignal: callback(
    "channel_exit_signal_function",
    [P, P, P, "i32", P, P, P],
    "void",
    0,
    "none",
    (b, [_s, _c, signal, core, message, language]) =>
      [cstr(b, signal), flag(core), cstr(b, message), cstr(b, language)] as const,
  ),
  ptyRequest: callback(
    "channel_pty_request_function",
    [P, P, P, "i32", "i32", "i32", "i32", P],
    "i32",
    -1,
    "accept",
    (b, [_s, _c, term, width, height, pxWidth, pxHeight]) =>
      [cstr(b, term), int(width), int(height), int(pxWidth), int(pxHeight)] as const,
  ),
  shellRequest: bareRequest("channel_shell_request_function"),
  authAgentReq: notice("channel_auth_agent_req_function"),
  x11Req: callback(
    "channel_x11_req_function",
    [P, P, "i32", P, P, "u32", P],
    "void",
    0,
    "none",
    (b, [_s, _c, single, protocol, cookie, screen]) =>
      [flag(single), cstr(b, protocol), cstr(b, cookie), int(screen)] as const,
  ),
  ptyWindowChange: callback(
    "channel_pty_window_change_function",
    [P, P, "i32", "i32", "i32", "i32", P],
    "i32",
    -1,
    "accept",
    (_b, [_s, _c, width, height, pxWidth, pxHeight]) =>
      [int(width), int(height), int(pxWidth), int(pxHeight)] as const,
  ),
  execRequest: callback(
    "channel_exec_request_function",
    [P, P, P, P],
    "i32",
    -1,
    "accept",
    (b, [_s, _c, command]) => [cstr(b, command)] as const,
  ),
  envRequest: callback(
    "channel_env_request_function",
    [P, P, P, P, P],
    "i32",
    -1,
    "accept",
    (b, [_s, _c, name, value]) => [cstr(b, name), cstr(b, value)] as const,
  ),
  subsystemRequest: callback(
    "channel_subsystem_request_function",
    [P, P, P, P],
    "i32",
    -1,
    "accept",
    (b, [_s, _c, subsystem]) => [cstr(b, subsystem)] as const,
  ),
  writeWontblock: callback(
    "channel_write_wontblock_function",
    [P, P, "u32", P],
    "i32",
    0,
    "none",
    (_b, [_s, _c, bytes]) => [int(bytes)] as const,
  ),
}, { "0.10": 136, "0.11": 152, "0.12": 152 });

/** Field names of the server callbacks struct. */
export type ServerCallbackField = (typeof SERVER_CALLBACKS.fields)[number];
/** Field names of the channel callbacks struct. */
export type ChannelCallbackField = (typeof CHANNEL_CALLBACKS.fields)[number];

/** The fields of a table that have a callback (the ones the binding sets). */
export type SettableField<Table> =
  & {
    [F in keyof Table]: Table[F] extends CallbackField ? F : never;
  }[keyof Table]
  & string;

/** What libssh gets back from a handler, by the field's C result. */
type Returned<R> = R extends "pointer" ? Pointer : R extends "void" ? void : number;

/**
 * The decoded handlers of a table: each takes the decoded arguments and
 * returns what libssh expects (`src/` forwards to the user's callbacks).
 */
export type HandlersOf<Table> = {
  [F in SettableField<Table>]: Table[F] extends CallbackField<infer Args, infer R>
    ? (...args: Args) => Returned<R>
    : never;
};

/** The handlers of a server callbacks struct. */
export type ServerHandlers = HandlersOf<typeof SERVER_CALLBACKS.table>;
/** The handlers of a channel callbacks struct. */
export type ChannelHandlers = HandlersOf<typeof CHANNEL_CALLBACKS.table>;

/** `struct pollfd { int fd; short events; short revents; }` */
export const POLLFD_BYTES = 8;

/** Where the fields of `struct epoll_event { uint32_t events; epoll_data_t data; }` lie. */
export interface EpollEventLayout {
  /** Size of one entry of the array `epoll_wait` fills. */
  readonly bytes: number;
  /** Offset of the 64-bit `data` (`events` is at 0). */
  readonly data: number;
}

/** The kernel packs `struct epoll_event` on x86_64 only (12 bytes); elsewhere `data` is 8-aligned (16 bytes). */
export function epollEventLayout(arch: string): EpollEventLayout {
  return arch === "x86_64" ? { bytes: 12, data: 4 } : { bytes: 16, data: 8 };
}
