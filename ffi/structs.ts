/**
 * Layouts of the libssh callback structs this binding fills in.
 *
 * Every such struct starts with `size_t size; void *userdata;` followed by
 * function pointers, 8 bytes each on the 64-bit platforms we support. libssh
 * only calls a function pointer whose offset lies below `size`
 * (`ssh_callbacks_exists`), so a struct sized for 0.10 stays valid on 0.11 and
 * 0.12, which append fields:
 *
 * | struct                          | 0.10 | 0.11 | 0.12 |
 * |---------------------------------|------|------|------|
 * | `ssh_server_callbacks_struct`   | 88   | 88   | 88 + (auth_kbdint, global requests, direct-tcpip, …) |
 * | `ssh_channel_callbacks_struct`  | 136  | 152 (+open_response, +request_response) | 152 |
 *
 * The extra 0.11/0.12 fields are left out on purpose: what they deliver
 * arrives through the message callback on every version.
 *
 * @module
 */

/** Size of the two leading fields, `size` and `userdata`. */
export const HEADER_BYTES = 16;

/** One callback struct: its function pointer fields in order. */
export interface StructLayout<Field extends string> {
  readonly name: string;
  readonly fields: readonly Field[];
  /** Value of the `size` field: header plus one pointer per field. */
  readonly size: number;
}

function layout<const Field extends string>(name: string, fields: readonly Field[]): StructLayout<Field> {
  return { name, fields, size: HEADER_BYTES + 8 * fields.length };
}

/** `struct ssh_server_callbacks_struct` (88 bytes). */
export const SERVER_CALLBACKS = layout("ssh_server_callbacks_struct", [
  "authPassword", // auth_password_function
  "authNone", // auth_none_function
  "authGssapiMic", // auth_gssapi_mic_function
  "authPubkey", // auth_pubkey_function
  "serviceRequest", // service_request_function
  "channelOpenRequestSession", // channel_open_request_session_function
  "gssapiSelectOid", // gssapi_select_oid_function (never set)
  "gssapiAcceptSecCtx", // gssapi_accept_sec_ctx_function (never set)
  "gssapiVerifyMic", // gssapi_verify_mic_function (never set)
]);

/** `struct ssh_channel_callbacks_struct` as of 0.10 (136 bytes). */
export const CHANNEL_CALLBACKS = layout("ssh_channel_callbacks_struct", [
  "data", // channel_data_function
  "eof", // channel_eof_function
  "close", // channel_close_function
  "signal", // channel_signal_function
  "exitStatus", // channel_exit_status_function
  "exitSignal", // channel_exit_signal_function
  "ptyRequest", // channel_pty_request_function
  "shellRequest", // channel_shell_request_function
  "authAgentReq", // channel_auth_agent_req_function
  "x11Req", // channel_x11_req_function
  "ptyWindowChange", // channel_pty_window_change_function
  "execRequest", // channel_exec_request_function
  "envRequest", // channel_env_request_function
  "subsystemRequest", // channel_subsystem_request_function
  "writeWontblock", // channel_write_wontblock_function
]);

/** Field names of the server callbacks struct. */
export type ServerCallbackField = (typeof SERVER_CALLBACKS.fields)[number];
/** Field names of the channel callbacks struct. */
export type ChannelCallbackField = (typeof CHANNEL_CALLBACKS.fields)[number];

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
