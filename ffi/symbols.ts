/**
 * The one table of every foreign function the library calls, in the format of
 * `Deno.dlopen`. The Node backend (koffi) is derived from the same table. The
 * DemoServer's own C functions are a second table in the same format
 * (`ffi/demo/symbols.ts`), bound only when a DemoServer needs them.
 *
 * Each parameter carries the C declaration it binds as a comment, so the table
 * can be checked against the headers line by line. Strings are passed as
 * NUL-terminated `buffer`s; returned `char *` are `pointer`s read in `ffi/`.
 *
 * Adding a libssh call is one entry here plus its use in `src/`.
 *
 * @module
 */

/** A foreign type name, as in `Deno.NativeType`. */
export type NativeType =
  | "void"
  | "bool"
  | "i8"
  | "u8"
  | "i16"
  | "u16"
  | "i32"
  | "u32"
  | "i64"
  | "u64"
  | "isize"
  | "usize"
  | "f64"
  | "pointer"
  | "buffer"
  | "function";

/** One foreign function, as in `Deno.ForeignFunction`. */
export interface ForeignFunction {
  readonly parameters: readonly NativeType[];
  readonly result: NativeType;
  /** Run on a worker thread; the call returns a Promise. */
  readonly nonblocking?: boolean;
  /** The symbol may be absent from older libraries (the binding is then `null`). */
  readonly optional?: boolean;
  /** The C symbol, when the table binds it under another name (a second signature). */
  readonly name?: string;
}

/** libssh (>= 0.10) symbols. */
export const libsshSymbols = {
  // ---- library ----
  ssh_version: {
    parameters: ["i32"], // int req_version
    result: "pointer", // const char *
  },
  ssh_get_error: {
    parameters: ["pointer"], // void *error (session or bind)
    result: "pointer", // const char *
  },
  ssh_get_error_code: {
    parameters: ["pointer"], // void *error
    result: "i32",
  },
  ssh_string_free_char: {
    parameters: ["pointer"], // char *s
    result: "void",
  },

  // ---- keys (pki) ----
  ssh_pki_generate: {
    parameters: [
      "i32", // enum ssh_keytypes_e type
      "i32", // int parameter (bits)
      "buffer", // ssh_key *pkey (out)
    ],
    result: "i32",
  },
  ssh_pki_import_privkey_base64: {
    parameters: [
      "buffer", // const char *b64_key
      "buffer", // const char *passphrase (NULL allowed)
      "pointer", // ssh_auth_callback auth_fn
      "pointer", // void *auth_data
      "buffer", // ssh_key *pkey (out)
    ],
    result: "i32",
  },
  ssh_pki_import_privkey_file: {
    parameters: [
      "buffer", // const char *filename
      "buffer", // const char *passphrase
      "pointer", // ssh_auth_callback auth_fn
      "pointer", // void *auth_data
      "buffer", // ssh_key *pkey (out)
    ],
    result: "i32",
  },
  ssh_pki_import_pubkey_base64: {
    parameters: [
      "buffer", // const char *b64_key
      "i32", // enum ssh_keytypes_e type
      "buffer", // ssh_key *pkey (out)
    ],
    result: "i32",
  },
  ssh_pki_export_privkey_base64: {
    parameters: [
      "pointer", // const ssh_key privkey
      "buffer", // const char *passphrase
      "pointer", // ssh_auth_callback auth_fn
      "pointer", // void *auth_data
      "buffer", // char **b64_key (out)
    ],
    result: "i32",
  },
  ssh_pki_export_pubkey_base64: {
    parameters: [
      "pointer", // const ssh_key key
      "buffer", // char **b64_key (out)
    ],
    result: "i32",
  },
  ssh_pki_export_privkey_to_pubkey: {
    parameters: [
      "pointer", // const ssh_key privkey
      "buffer", // ssh_key *pkey (out)
    ],
    result: "i32",
  },
  ssh_key_type: {
    parameters: ["pointer"], // const ssh_key key
    result: "i32", // enum ssh_keytypes_e
  },
  ssh_key_type_from_name: {
    parameters: ["buffer"], // const char *name
    result: "i32", // enum ssh_keytypes_e
  },
  ssh_key_type_to_char: {
    parameters: ["i32"], // enum ssh_keytypes_e type
    result: "pointer", // const char *
  },
  ssh_key_is_private: {
    parameters: ["pointer"], // const ssh_key k
    result: "i32",
  },
  ssh_key_cmp: {
    parameters: [
      "pointer", // const ssh_key k1
      "pointer", // const ssh_key k2
      "i32", // enum ssh_keycmp_e what
    ],
    result: "i32", // 0 when equal
  },
  ssh_key_dup: {
    parameters: ["pointer"], // const ssh_key key
    result: "pointer", // ssh_key
  },
  ssh_key_free: {
    parameters: ["pointer"], // ssh_key key
    result: "void",
  },
  ssh_get_publickey_hash: {
    parameters: [
      "pointer", // const ssh_key key
      "i32", // enum ssh_publickey_hash_type type
      "buffer", // unsigned char **hash (out)
      "buffer", // size_t *hlen (out)
    ],
    result: "i32",
  },
  ssh_get_fingerprint_hash: {
    parameters: [
      "i32", // enum ssh_publickey_hash_type type
      "pointer", // unsigned char *hash
      "usize", // size_t len
    ],
    result: "pointer", // char * (free with ssh_string_free_char)
  },
  ssh_clean_pubkey_hash: {
    parameters: ["buffer"], // unsigned char **hash
    result: "void",
  },

  // ---- bind ----
  ssh_bind_new: {
    parameters: [],
    result: "pointer", // ssh_bind
  },
  ssh_bind_options_set: {
    parameters: [
      "pointer", // ssh_bind sshbind
      "i32", // enum ssh_bind_options_e type
      "buffer", // const void *value
    ],
    result: "i32",
  },
  ssh_bind_import_key: {
    // ssh_bind_options_set(sshbind, SSH_BIND_OPTIONS_IMPORT_KEY, ssh_key): the value is a key handle.
    parameters: [
      "pointer", // ssh_bind sshbind
      "i32", // enum ssh_bind_options_e type
      "pointer", // ssh_key (ownership passes to the bind)
    ],
    result: "i32",
    name: "ssh_bind_options_set",
  },
  ssh_bind_listen: {
    parameters: ["pointer"], // ssh_bind ssh_bind_o
    result: "i32",
  },
  ssh_bind_set_blocking: {
    parameters: [
      "pointer", // ssh_bind ssh_bind_o
      "i32", // int blocking
    ],
    result: "void",
  },
  ssh_bind_get_fd: {
    parameters: ["pointer"], // ssh_bind ssh_bind_o
    result: "i32", // socket_t
  },
  ssh_bind_set_fd: {
    parameters: [
      "pointer", // ssh_bind ssh_bind_o
      "i32", // socket_t fd
    ],
    result: "void",
  },
  ssh_bind_accept: {
    parameters: [
      "pointer", // ssh_bind ssh_bind_o
      "pointer", // ssh_session session
    ],
    result: "i32",
  },
  ssh_bind_accept_fd: {
    parameters: [
      "pointer", // ssh_bind ssh_bind_o
      "pointer", // ssh_session session
      "i32", // socket_t fd
    ],
    result: "i32",
  },
  ssh_bind_free: {
    parameters: ["pointer"], // ssh_bind ssh_bind_o
    result: "void",
  },

  // ---- session ----
  ssh_new: {
    parameters: [],
    result: "pointer", // ssh_session
  },
  ssh_free: {
    parameters: ["pointer"], // ssh_session session
    result: "void",
  },
  ssh_disconnect: {
    parameters: ["pointer"], // ssh_session session
    result: "void",
  },
  ssh_set_blocking: {
    parameters: [
      "pointer", // ssh_session session
      "i32", // int blocking
    ],
    result: "void",
  },
  ssh_get_fd: {
    parameters: ["pointer"], // ssh_session session
    result: "i32", // socket_t
  },
  ssh_is_connected: {
    parameters: ["pointer"], // ssh_session session
    result: "i32",
  },
  ssh_get_status: {
    parameters: ["pointer"], // ssh_session session
    result: "i32", // SSH_CLOSED | SSH_READ_PENDING | SSH_CLOSED_ERROR | SSH_WRITE_PENDING
  },
  ssh_set_counters: {
    parameters: [
      "pointer", // ssh_session session
      "pointer", // ssh_counter scounter (bytes through the socket)
      "pointer", // ssh_counter rcounter (payload bytes and packets)
    ],
    result: "void",
  },
  ssh_get_poll_flags: {
    parameters: ["pointer"], // ssh_session session
    result: "i32", // SSH_READ_PENDING | SSH_WRITE_PENDING
  },
  ssh_handle_key_exchange: {
    parameters: ["pointer"], // ssh_session session
    result: "i32",
  },
  ssh_set_auth_methods: {
    parameters: [
      "pointer", // ssh_session session
      "i32", // int auth_methods
    ],
    result: "void",
  },
  ssh_set_server_callbacks: {
    parameters: [
      "pointer", // ssh_session session
      "pointer", // ssh_server_callbacks cb
    ],
    result: "i32",
  },
  ssh_set_message_callback: {
    parameters: [
      "pointer", // ssh_session session
      "pointer", // int (*ssh_bind_message_callback)(ssh_session, ssh_message, void *)
      "pointer", // void *data
    ],
    result: "void",
  },
  ssh_get_clientbanner: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // const char *
  },
  ssh_get_kex_algo: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // const char *
  },
  ssh_get_cipher_in: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // const char *
  },
  ssh_send_keepalive: {
    parameters: ["pointer"], // ssh_session session
    result: "i32",
  },
  ssh_userauth_kbdint_getnanswers: {
    parameters: ["pointer"], // ssh_session session
    result: "i32",
  },
  ssh_userauth_kbdint_getanswer: {
    parameters: [
      "pointer", // ssh_session session
      "u32", // unsigned int i
    ],
    result: "pointer", // const char *
  },

  // ---- event ----
  ssh_event_new: {
    parameters: [],
    result: "pointer", // ssh_event
  },
  ssh_event_add_session: {
    parameters: [
      "pointer", // ssh_event event
      "pointer", // ssh_session session
    ],
    result: "i32",
  },
  ssh_event_remove_session: {
    parameters: [
      "pointer", // ssh_event event
      "pointer", // ssh_session session
    ],
    result: "i32",
  },
  ssh_event_dopoll: {
    parameters: [
      "pointer", // ssh_event event
      "i32", // int timeout
    ],
    result: "i32",
  },
  ssh_event_free: {
    parameters: ["pointer"], // ssh_event event
    result: "void",
  },

  // ---- messages ----
  ssh_message_type: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_subtype: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_reply_default: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_auth_user: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_auth_password: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_auth_pubkey: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // ssh_key (owned by the message)
  },
  ssh_message_auth_publickey_state: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32", // enum ssh_publickey_state_e
  },
  ssh_message_auth_kbdint_is_response: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_auth_reply_success: {
    parameters: [
      "pointer", // ssh_message msg
      "i32", // int partial
    ],
    result: "i32",
  },
  ssh_message_auth_reply_pk_ok_simple: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_auth_set_methods: {
    parameters: [
      "pointer", // ssh_message msg
      "i32", // int methods
    ],
    result: "i32",
  },
  ssh_message_auth_interactive_request: {
    parameters: [
      "pointer", // ssh_message msg
      "buffer", // const char *name
      "buffer", // const char *instruction
      "u32", // unsigned int num_prompts
      "buffer", // const char **prompts
      "buffer", // char *echo
    ],
    result: "i32",
  },
  ssh_message_service_service: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_service_reply_success: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_channel_request_open_originator: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_channel_request_open_originator_port: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_channel_request_open_destination: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_channel_request_open_destination_port: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_channel_request_open_reply_accept: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // ssh_channel
  },
  ssh_message_channel_request_channel: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // ssh_channel
  },
  ssh_message_channel_request_reply_success: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_channel_request_command: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_channel_request_subsystem: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_channel_request_env_name: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_channel_request_env_value: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_global_request_address: {
    parameters: ["pointer"], // ssh_message msg
    result: "pointer", // const char *
  },
  ssh_message_global_request_port: {
    parameters: ["pointer"], // ssh_message msg
    result: "i32",
  },
  ssh_message_global_request_reply_success: {
    parameters: [
      "pointer", // ssh_message msg
      "u16", // uint16_t bound_port
    ],
    result: "i32",
  },

  // ---- channels ----
  ssh_channel_new: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // ssh_channel
  },
  ssh_channel_free: {
    parameters: ["pointer"], // ssh_channel channel
    result: "void",
  },
  ssh_channel_close: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_send_eof: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_is_open: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_is_closed: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_is_eof: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_write: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const void *data
      "u32", // uint32_t len
    ],
    result: "i32", // bytes written, or SSH_ERROR
  },
  ssh_channel_write_stderr: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const void *data
      "u32", // uint32_t len
    ],
    result: "i32",
  },
  ssh_channel_read_nonblocking: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // void *dest
      "u32", // uint32_t count
      "i32", // int is_stderr
    ],
    result: "i32", // bytes read, 0 when none, SSH_EOF, or SSH_ERROR
  },
  ssh_channel_poll: {
    parameters: [
      "pointer", // ssh_channel channel
      "i32", // int is_stderr
    ],
    result: "i32", // bytes buffered, SSH_EOF, or SSH_ERROR
  },
  ssh_channel_window_size: {
    parameters: ["pointer"], // ssh_channel channel
    result: "u32",
  },
  ssh_channel_request_send_exit_status: {
    parameters: [
      "pointer", // ssh_channel channel
      "i32", // int exit_status
    ],
    result: "i32",
  },
  ssh_channel_request_send_exit_signal: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *signum (without "SIG")
      "i32", // int core
      "buffer", // const char *errmsg
      "buffer", // const char *lang
    ],
    result: "i32",
  },
  ssh_channel_open_reverse_forward: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *remotehost
      "i32", // int remoteport
      "buffer", // const char *sourcehost
      "i32", // int localport
    ],
    result: "i32",
  },
  ssh_set_channel_callbacks: {
    parameters: [
      "pointer", // ssh_channel channel
      "pointer", // ssh_channel_callbacks cb
    ],
    result: "i32",
  },
  ssh_add_channel_callbacks: {
    parameters: [
      "pointer", // ssh_channel channel
      "pointer", // ssh_channel_callbacks cb
    ],
    result: "i32",
  },
  ssh_remove_channel_callbacks: {
    parameters: [
      "pointer", // ssh_channel channel
      "pointer", // ssh_channel_callbacks cb
    ],
    result: "i32",
  },

  // ---- client (src/client.ts, src/client/) ----
  ssh_options_set: {
    parameters: [
      "pointer", // ssh_session session
      "i32", // enum ssh_options_e type
      "buffer", // const void *value (a C string, or a pointer to an int / a bool)
    ],
    result: "i32",
  },
  ssh_options_get: {
    parameters: [
      "pointer", // ssh_session session
      "i32", // enum ssh_options_e type
      "buffer", // char **value (out, free with ssh_string_free_char)
    ],
    result: "i32",
  },
  ssh_connect: {
    parameters: ["pointer"], // ssh_session session
    result: "i32", // SSH_OK, SSH_AGAIN (non-blocking) or SSH_ERROR
  },
  ssh_get_server_publickey: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // ssh_key *key (out)
    ],
    result: "i32",
  },
  ssh_session_is_known_server: {
    parameters: ["pointer"], // ssh_session session
    result: "i32", // enum ssh_known_hosts_e
  },
  ssh_session_update_known_hosts: {
    parameters: ["pointer"], // ssh_session session
    result: "i32",
  },
  ssh_session_export_known_hosts_entry: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // char **pentry_string (out, free with ssh_string_free_char)
    ],
    result: "i32",
  },
  ssh_get_serverbanner: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // const char *
  },
  ssh_get_issue_banner: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // char * (free with ssh_string_free_char)
  },
  ssh_get_disconnect_message: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // const char *
  },
  ssh_userauth_none: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *username (NULL: the session's user)
    ],
    result: "i32", // enum ssh_auth_e
  },
  ssh_userauth_list: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *username (unused)
    ],
    result: "i32", // SSH_AUTH_METHOD_* bits
  },
  ssh_userauth_password: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *username
      "buffer", // const char *password
    ],
    result: "i32",
  },
  ssh_userauth_try_publickey: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *username
      "pointer", // const ssh_key pubkey
    ],
    result: "i32",
  },
  ssh_userauth_publickey: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *username
      "pointer", // const ssh_key privkey
    ],
    result: "i32",
  },
  ssh_userauth_agent: {
    // On a worker thread: libssh waits for the agent's answer with poll(-1) whatever the blocking mode.
    // The caller makes sure nothing else touches the session meanwhile.
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *username
    ],
    result: "i32",
    nonblocking: true,
  },
  ssh_userauth_kbdint: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *user
      "buffer", // const char *submethods
    ],
    result: "i32",
  },
  ssh_userauth_kbdint_getname: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // const char *
  },
  ssh_userauth_kbdint_getinstruction: {
    parameters: ["pointer"], // ssh_session session
    result: "pointer", // const char *
  },
  ssh_userauth_kbdint_getnprompts: {
    parameters: ["pointer"], // ssh_session session
    result: "i32",
  },
  ssh_userauth_kbdint_getprompt: {
    parameters: [
      "pointer", // ssh_session session
      "u32", // unsigned int i
      "buffer", // char *echo (out)
    ],
    result: "pointer", // const char *
  },
  ssh_userauth_kbdint_setanswer: {
    parameters: [
      "pointer", // ssh_session session
      "u32", // unsigned int i
      "buffer", // const char *answer
    ],
    result: "i32",
  },
  ssh_channel_open_session: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_open_forward: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *remotehost
      "i32", // int remoteport
      "buffer", // const char *sourcehost
      "i32", // int localport
    ],
    result: "i32",
  },
  ssh_channel_request_env: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *name
      "buffer", // const char *value
    ],
    result: "i32",
  },
  ssh_channel_request_pty_size: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *term
      "i32", // int cols
      "i32", // int rows
    ],
    result: "i32",
  },
  ssh_channel_change_pty_size: {
    parameters: [
      "pointer", // ssh_channel channel
      "i32", // int cols
      "i32", // int rows
    ],
    result: "i32",
  },
  ssh_channel_request_exec: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *cmd
    ],
    result: "i32",
  },
  ssh_channel_request_shell: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_request_auth_agent: {
    parameters: ["pointer"], // ssh_channel channel
    result: "i32",
  },
  ssh_channel_request_subsystem: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *subsystem
    ],
    result: "i32",
  },
  ssh_channel_request_send_signal: {
    parameters: [
      "pointer", // ssh_channel channel
      "buffer", // const char *signum (without "SIG")
    ],
    result: "i32",
  },
  ssh_channel_listen_forward: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *address
      "i32", // int port
      "buffer", // int *bound_port (out)
    ],
    result: "i32",
  },
  ssh_channel_cancel_forward: {
    parameters: [
      "pointer", // ssh_session session
      "buffer", // const char *address
      "i32", // int port
    ],
    result: "i32",
  },
} as const satisfies Record<string, ForeignFunction>;

/** C library symbols: the waiting primitives the reactor needs and socket options. */
export const libcSymbols = {
  epoll_create1: {
    parameters: ["i32"], // int flags
    result: "i32",
  },
  epoll_ctl: {
    parameters: [
      "i32", // int epfd
      "i32", // int op
      "i32", // int fd
      "buffer", // struct epoll_event *event
    ],
    result: "i32",
  },
  epoll_wait: {
    // On a worker thread: the only call that waits.
    parameters: [
      "i32", // int epfd
      "buffer", // struct epoll_event *events
      "i32", // int maxevents
      "i32", // int timeout
    ],
    result: "i32",
    nonblocking: true,
  },
  eventfd: {
    parameters: [
      "u32", // unsigned int initval
      "i32", // int flags
    ],
    result: "i32",
  },
  read: {
    parameters: [
      "i32", // int fd
      "buffer", // void *buf
      "usize", // size_t count
    ],
    result: "isize",
  },
  write: {
    parameters: [
      "i32", // int fd
      "buffer", // const void *buf
      "usize", // size_t count
    ],
    result: "isize",
  },
  close: {
    parameters: ["i32"], // int fd
    result: "i32",
  },
  fcntl: {
    // Declared with one int argument: the F_GETFL / F_SETFL forms we use.
    parameters: [
      "i32", // int fd
      "i32", // int cmd
      "i32", // int arg
    ],
    result: "i32",
  },
  getsockname: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr
      "buffer", // socklen_t *addrlen
    ],
    result: "i32",
  },
  getpeername: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr
      "buffer", // socklen_t *addrlen
    ],
    result: "i32",
  },
  setsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // const void *optval
      "u32", // socklen_t optlen
    ],
    result: "i32",
  },
  __errno_location: {
    parameters: [],
    result: "pointer", // int *
  },
  strerror: {
    parameters: ["i32"], // int errnum
    result: "pointer", // char *
  },
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32",
  },
  connect: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  bind: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },
  listen: {
    parameters: [
      "i32", // int sockfd
      "i32", // int backlog
    ],
    result: "i32",
  },
  getrlimit: {
    parameters: [
      "i32", // int resource
      "buffer", // struct rlimit *rlim
    ],
    result: "i32",
  },
  accept4: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct sockaddr *addr
      "buffer", // socklen_t *addrlen
      "i32", // int flags
    ],
    result: "i32",
  },
  shutdown: {
    parameters: [
      "i32", // int sockfd
      "i32", // int how
    ],
    result: "i32",
  },
  getsockopt: {
    parameters: [
      "i32", // int sockfd
      "i32", // int level
      "i32", // int optname
      "buffer", // void *optval
      "buffer", // socklen_t *optlen
    ],
    result: "i32",
  },
  getaddrinfo: {
    parameters: [
      "buffer", // const char *node
      "buffer", // const char *service
      "buffer", // const struct addrinfo *hints
      "buffer", // struct addrinfo **res
    ],
    result: "i32",
  },
  getaddrinfo_async: {
    // The same getaddrinfo(), on a worker thread: a name lookup may wait for DNS.
    name: "getaddrinfo",
    parameters: [
      "buffer", // const char *node
      "buffer", // const char *service
      "buffer", // const struct addrinfo *hints
      "buffer", // struct addrinfo **res
    ],
    result: "i32",
    nonblocking: true,
  },
  freeaddrinfo: {
    parameters: ["pointer"], // struct addrinfo *res
    result: "void",
  },
  ioctl: {
    // Declared with one pointer argument: the FIONREAD form (ffi/socket.ts) and the
    // DemoServer's TIOCSWINSZ (ffi/demo/pty.ts).
    parameters: [
      "i32", // int fd
      "u64", // unsigned long request
      "buffer", // const struct winsize * / int *
    ],
    result: "i32",
  },
  // ---- client jump hosts (ffi/socket_pair.ts) ----
  socketpair: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
      "buffer", // int sv[2]
    ],
    result: "i32",
  },
} as const satisfies Record<string, ForeignFunction>;
