/**
 * libssh for TypeScript: SSH servers and clients (and keys) on the system
 * libssh, through FFI, for Deno and Node.
 *
 * @example Generate a host key
 * ```ts
 * import { SshKey } from "@libssh/libssh";
 *
 * using hostKey = SshKey.generate("ed25519");
 * console.log(hostKey.fingerprint());
 * ```
 *
 * @module
 */

export { SshError, type SshErrorCode } from "./src/errors.ts";
export {
  type FingerprintHash,
  type GeneratedKeyType,
  type GenerateOptions,
  type KeyType,
  type PassphraseOptions,
  SshKey,
} from "./src/key.ts";
export { AuthMethod, AuthStatus, PublicKeyState } from "./src/auth.ts";
export {
  Bind,
  type BindAlgorithms,
  type BindOptions,
  type BindSettings,
  listen,
  type ListenOptions,
} from "./src/bind.ts";
export { DEFAULT_LIMITS, type LimitName, type ServerLimits } from "./src/limits.ts";
export {
  type CallbackSet,
  type ChannelCallbackFunctions,
  type ChannelCallbackName,
  ChannelCallbacks,
  type ServerCallbackFunctions,
  type ServerCallbackName,
  ServerCallbacks,
} from "./src/callbacks.ts";
export {
  type ExitSignalOptions,
  type ForwardedTcpipOptions,
  SshChannel,
  type WriteOptions,
} from "./src/channel.ts";
export { type EventCloseOptions, SessionEvent } from "./src/event.ts";
export {
  ChannelRequestType,
  ChannelType,
  type Endpoint,
  GlobalRequestType,
  type InteractivePrompt,
  type InteractiveRequest,
  Message,
  type MessageCallback,
  RequestType,
} from "./src/message.ts";
export { type ErrorHandler, Session } from "./src/session.ts";
export type { SocketAddress } from "./ffi/socket.ts";
export {
  type ClientAlgorithms,
  type ClientOptions,
  ClientSession,
  connect,
  type ConnectOptions,
} from "./src/client.ts";
export {
  AuthFailedError,
  type AuthMethodName,
  type ClientAuth,
  type KbdintHandler,
  type KbdintPrompt,
  type KbdintRequest,
} from "./src/client/authenticate.ts";
export {
  ChannelOpenError,
  ClientChannel,
  type ClientWriteOptions,
  type ExitResult,
  type PtyOptions,
} from "./src/client/client_channel.ts";
export {
  type DirectTcpipOptions,
  type ForwardedConnectionInfo,
  LocalForward,
  type LocalForwardOptions,
  RemoteForward,
  type RemoteForwardOptions,
} from "./src/client/forwarding.ts";
export {
  type HostKeyInfo,
  type HostKeyPolicy,
  KnownHosts,
  type KnownHostsPolicy,
} from "./src/client/host_key.ts";
export type { KeepaliveOptions } from "./src/client/keepalive.ts";
export {
  CommandFailedError,
  type CompletedProcess,
  type ExecOptions,
  type RunOptions,
  SshProcess,
} from "./src/client/process.ts";
export type { AddressFamily } from "./src/client/transport.ts";
export {
  SftpClient,
  type SftpLimits,
  type SftpMkdirOptions,
  type SftpOpenFlags,
  type SftpReaddirOptions,
  type SftpRenameOptions,
  type SftpStatvfs,
  type SftpWriteFileOptions,
} from "./src/sftp/client.ts";
export type { SftpClientOptions, SftpTransport } from "./src/sftp/_session.ts";
export { type SftpAttributes, SftpStats } from "./src/sftp/attributes.ts";
export { SftpFile, type SftpReadableOptions, type SftpWritableOptions } from "./src/sftp/file.ts";
export type { SftpDirEntry } from "./src/sftp/responses.ts";
export type { SftpStatus } from "./src/sftp/status.ts";
export type { SftpReadFileOptions, SftpTransferOptions } from "./src/sftp/transfer.ts";
