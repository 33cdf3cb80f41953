/**
 * Authentication enums, with libssh's values (checked against the generated
 * `ffi/constants.ts` by `tests/enums.test.ts`).
 *
 * @module
 */

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
  None = 1, // SSH_AUTH_METHOD_NONE
  Password = 2, // SSH_AUTH_METHOD_PASSWORD
  PublicKey = 4, // SSH_AUTH_METHOD_PUBLICKEY
  HostBased = 8, // SSH_AUTH_METHOD_HOSTBASED
  Interactive = 16, // SSH_AUTH_METHOD_INTERACTIVE
  GssapiMic = 32, // SSH_AUTH_METHOD_GSSAPI_MIC
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
  Success = 0, // SSH_AUTH_SUCCESS
  Denied = 1, // SSH_AUTH_DENIED
  Partial = 2, // SSH_AUTH_PARTIAL
  Info = 3, // SSH_AUTH_INFO
  Again = 4, // SSH_AUTH_AGAIN
  Error = -1, // SSH_AUTH_ERROR
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
  Error = -1, // SSH_PUBLICKEY_STATE_ERROR
  None = 0, // SSH_PUBLICKEY_STATE_NONE
  Valid = 1, // SSH_PUBLICKEY_STATE_VALID
  Wrong = 2, // SSH_PUBLICKEY_STATE_WRONG
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
