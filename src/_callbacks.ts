/**
 * The private side of `callbacks.ts`: what the callback tables of
 * `ffi/structs.ts` give the user-facing callback sets. Each settable field
 * `f` of a struct is the user's `onF` (`authPassword` → `onAuthPassword`);
 * a forwarder class per struct calls the user's function with its owners
 * (the session, and the channel), the decoded arguments and the set's
 * userdata, and turns the answer into what libssh expects, by the field's
 * answer kind. Adding a callback is one line in the table (and its
 * documented type in `callbacks.ts`).
 *
 * @module
 */

import type { Pointer } from "../ffi/backend.ts";
import type { CallbackField, StructLayout } from "../ffi/structs.ts";
import { isAuthReply } from "./auth.ts";
import type { CallbackSet } from "./callbacks.ts";

/** The user-facing name of a callback field: `authPassword` → `onAuthPassword`. */
export type CallbackName<Field extends string> = `on${Capitalize<Field>}`;

/** The user-facing name of `field`. */
export function callbackName<Field extends string>(field: Field): CallbackName<Field> {
  return `on${field[0].toUpperCase()}${field.slice(1)}` as CallbackName<Field>;
}

/** The user-facing names of a struct's settable fields, in C order. */
export function callbackNames<Field extends string>(layout: StructLayout<Field>): CallbackName<Field>[] {
  return layout.fields.filter((field) => layout.callbacks[field]).map(callbackName);
}

/** The settable field of each user-facing name, for switching a struct's fields as a set changes. */
export function fieldsByName<Field extends string>(layout: StructLayout<Field>): Map<string, Field> {
  return new Map(
    layout.fields.filter((field) => layout.callbacks[field]).map((field) => [callbackName(field), field]),
  );
}

/** Hears that the function `name` of a set was set (true) or cleared. */
export type CallbackListener = (name: string, set: boolean) => void;

/** The key of a callback set's state: exported from this private module only. */
export const CALLBACK_SET: unique symbol = Symbol("CallbackSet");

/** What a callback set holds under `CALLBACK_SET`. */
export interface CallbackSetState {
  readonly functions: Record<string, ((...args: never[]) => unknown) | undefined>;
  listeners: Set<CallbackListener> | undefined;
}

/** A user's callback set, whatever its functions. */
type AnyCallbackSet = CallbackSet<unknown, object>;

/** Observes later changes of `set`'s functions; returns the unsubscribe function. */
export function observeCallbacks(set: AnyCallbackSet, listener: CallbackListener): () => void {
  const state = set[CALLBACK_SET];
  (state.listeners ??= new Set()).add(listener);
  return () => state.listeners!.delete(listener);
}

/** A request callback's answer to libssh: accepted. */
export const ACCEPTED = 0;
/** A request callback's answer to libssh: refused. */
export const REFUSED = -1;

/** The user's answer as libssh wants it, by the field's answer kind (`"channel"` is the subclass's). */
function answerOf(field: CallbackField, name: string, args: readonly unknown[], answer: unknown): unknown {
  switch (field.answer) {
    case "auth":
      if (!isAuthReply(answer)) {
        throw new TypeError(
          `${name} must return AuthStatus.Success, .Denied or .Partial synchronously, not ${answer}`,
        );
      }
      return answer;
    case "accept":
      if (typeof answer !== "boolean") throw new TypeError(`${name} must return a boolean synchronously`);
      return answer ? ACCEPTED : REFUSED;
    case "consumed": {
      const offered = (args[0] as Uint8Array).length;
      if (answer === undefined) return offered;
      if (typeof answer !== "number" || !Number.isInteger(answer) || answer < 0 || answer > offered) {
        throw new TypeError(`${name} must return a byte count from 0 to ${offered}`);
      }
      return answer;
    }
    case "channel":
      return answer;
    case "none":
      return 0;
  }
}

/** The common part of the forwarders: one user set, the owners passed first to each of its functions. */
export class CallbackForwarder {
  readonly #owners: readonly unknown[];
  readonly #callbacks: AnyCallbackSet;

  constructor(owners: readonly unknown[], callbacks: AnyCallbackSet) {
    this.#owners = owners;
    this.#callbacks = callbacks;
  }

  /** Calls the user's function for `field` and returns libssh's answer (a subclass may refine it). */
  forward<R>(layout: StructLayout<string>, field: string, args: readonly unknown[]): R {
    const name = callbackName(field);
    const fn = this.#callbacks[CALLBACK_SET].functions[name] as (...a: unknown[]) => unknown;
    const answer = fn(...this.#owners, ...args, this.#callbacks.userdata);
    return answerOf(layout.callbacks[field]!, name, args, answer) as R;
  }
}

/**
 * The forwarder class of a struct: one method per settable field, on the
 * prototype (a server holds a set per session and per channel: no closures
 * each), calling `forward`. Subclasses override the fields that do more.
 */
export function forwarderFor<Table>(
  layout: StructLayout<keyof Table & string> & { readonly table: Table },
): new (owners: readonly unknown[], callbacks: AnyCallbackSet) => CallbackForwarder {
  class Forwarder extends CallbackForwarder {}
  for (const field of layout.fields) {
    if (!layout.callbacks[field]) continue;
    Object.defineProperty(Forwarder.prototype, field, {
      value(this: CallbackForwarder, ...args: unknown[]): number | Pointer | void {
        return this.forward(layout as StructLayout<string>, field, args);
      },
    });
  }
  return Forwarder;
}
