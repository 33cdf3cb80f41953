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

/** Size of the two leading fields, `size` and `userdata`. */
export const HEADER_BYTES = 16;

/** One callback struct: its function pointer fields in order. */
export interface StructLayout<Field extends string> {
  /** The C struct, without `struct`. */
  readonly name: string;
  /** The binding's name of each function pointer field, in C order. */
  readonly fields: readonly Field[];
  /** The C member of each field, by the binding's name. */
  readonly members: Readonly<Record<Field, string>>;
  /** Value of the `size` field: header plus one pointer per field. */
  readonly size: number;
  /**
   * `sizeof` the whole C struct in each libssh release (`major.minor`), the
   * fields newer releases append included: the record of where releases
   * differ, checked against their headers.
   */
  readonly sizeByRelease: Readonly<Record<string, number>>;
}

function layout<const Field extends string>(
  name: string,
  members: Record<Field, string>,
  sizeByRelease: Record<string, number>,
): StructLayout<Field> {
  const fields = Object.keys(members) as Field[];
  return { name, fields, members, size: HEADER_BYTES + 8 * fields.length, sizeByRelease };
}

/**
 * `struct ssh_server_callbacks_struct`. 0.12 appends
 * `channel_open_request_direct_tcpip_function` and `auth_kbdint_function`.
 */
export const SERVER_CALLBACKS = layout("ssh_server_callbacks_struct", {
  authPassword: "auth_password_function",
  authNone: "auth_none_function",
  authGssapiMic: "auth_gssapi_mic_function",
  authPubkey: "auth_pubkey_function",
  serviceRequest: "service_request_function",
  channelOpenRequestSession: "channel_open_request_session_function",
  gssapiSelectOid: "gssapi_select_oid_function", // never set
  gssapiAcceptSecCtx: "gssapi_accept_sec_ctx_function", // never set
  gssapiVerifyMic: "gssapi_verify_mic_function", // never set
}, { "0.10": 88, "0.11": 88, "0.12": 104 });

/**
 * `struct ssh_channel_callbacks_struct`. 0.11 appends
 * `channel_open_response_function` and `channel_request_response_function`
 * (for channels this side opens).
 */
export const CHANNEL_CALLBACKS = layout("ssh_channel_callbacks_struct", {
  data: "channel_data_function",
  eof: "channel_eof_function",
  close: "channel_close_function",
  signal: "channel_signal_function",
  exitStatus: "channel_exit_status_function",
  exitSignal: "channel_exit_signal_function",
  ptyRequest: "channel_pty_request_function",
  shellRequest: "channel_shell_request_function",
  authAgentReq: "channel_auth_agent_req_function",
  x11Req: "channel_x11_req_function",
  ptyWindowChange: "channel_pty_window_change_function",
  execRequest: "channel_exec_request_function",
  envRequest: "channel_env_request_function",
  subsystemRequest: "channel_subsystem_request_function",
  writeWontblock: "channel_write_wontblock_function",
}, { "0.10": 136, "0.11": 152, "0.12": 152 });

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
