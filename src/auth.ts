/**
 * Authentication enums, with libssh's values.
 *
 * @module
 */

import * as c from "../ffi/constants.ts";

/**
 * Authentication methods a server offers (`ssh_set_auth_methods`).
 *
 * @example
 * ```ts
 * import { AuthMethod } from "@libssh/libssh";
 *
 * const methods = [AuthMethod.Password, AuthMethod.PublicKey];
 * ```
 */
export enum AuthMethod {
  None = c.SSH_AUTH_METHOD_NONE,
  Password = c.SSH_AUTH_METHOD_PASSWORD,
  PublicKey = c.SSH_AUTH_METHOD_PUBLICKEY,
  HostBased = c.SSH_AUTH_METHOD_HOSTBASED,
  Interactive = c.SSH_AUTH_METHOD_INTERACTIVE,
  GssapiMic = c.SSH_AUTH_METHOD_GSSAPI_MIC,
}

/**
 * What an authentication callback answers.
 *
 * @example
 * ```ts
 * import { AuthStatus } from "@libssh/libssh";
 *
 * const check = (password: string) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied;
 * ```
 */
export enum AuthStatus {
  Success = c.SSH_AUTH_SUCCESS,
  Denied = c.SSH_AUTH_DENIED,
  Partial = c.SSH_AUTH_PARTIAL,
  Info = c.SSH_AUTH_INFO,
  Again = c.SSH_AUTH_AGAIN,
  Error = c.SSH_AUTH_ERROR,
}

/**
 * The state of a public key offered for authentication: `None` when the
 * client only asks whether the key would be accepted, `Valid` when it signed
 * and libssh verified the signature.
 *
 * @example
 * ```ts
 * import { PublicKeyState } from "@libssh/libssh";
 *
 * const signed = (state: PublicKeyState) => state === PublicKeyState.Valid;
 * ```
 */
export enum PublicKeyState {
  Error = c.SSH_PUBLICKEY_STATE_ERROR,
  None = c.SSH_PUBLICKEY_STATE_NONE,
  Valid = c.SSH_PUBLICKEY_STATE_VALID,
  Wrong = c.SSH_PUBLICKEY_STATE_WRONG,
}

/** Combines methods into libssh's bit mask; throws TypeError on unknown values. */
export function authMethodMask(methods: readonly AuthMethod[]): number {
  if (!Array.isArray(methods)) throw new TypeError("auth methods must be an array of AuthMethod");
  let mask = 0;
  for (const method of methods) {
    if (!Object.values(AuthMethod).includes(method)) {
      throw new TypeError(`unknown auth method ${String(method)}`);
    }
    mask |= method;
  }
  return mask;
}

/** The statuses an auth callback may return; anything else is treated as a denial. */
export function isAuthReply(
  status: unknown,
): status is AuthStatus.Success | AuthStatus.Denied | AuthStatus.Partial {
  return status === AuthStatus.Success || status === AuthStatus.Denied || status === AuthStatus.Partial;
}
