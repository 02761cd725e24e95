/**
 * Waiting on what the app-server says back, shared by loading, unloading and cancelling: a
 * notification on a thread's subscription (with a bound, failing when the app-server ends), and
 * an answer decoded into its expected shape (CODEX.md "`codex app-server`").
 */
import { Effect, Either, type Mailbox, Schema } from "effect"
import type { TurnNotification } from "../schemas/AppServerWire.ts"
import { AppServerError, type ThreadSignal } from "../services/AppServerConnection.ts"

/** Takes signals until one matches, and gives it; fails when the app-server ends or the time is up. */
export const awaitSignal = <N extends TurnNotification>(
  queue: Mailbox.ReadonlyMailbox<ThreadSignal>,
  match: (n: TurnNotification) => n is N,
  timeoutMs: number,
  what: string
): Effect.Effect<N, AppServerError> =>
  Effect.gen(function* () {
    for (;;) {
      // The subscription never ends before its `Exited` signal: an end would mean the connection is gone.
      const signal = yield* Effect.catchTag(queue.take, "NoSuchElementException", () =>
        Effect.fail(new AppServerError({ reason: "exit", message: `codex app-server connection ended before ${what}` })))
      if (signal._tag === "Exited") return yield* Effect.fail(signal.error)
      if (match(signal.notification)) return signal.notification
    }
  }).pipe(
    Effect.timeoutFail({
      duration: timeoutMs,
      onTimeout: () => new AppServerError({ reason: "timeout", message: `codex app-server sent no ${what} within ${timeoutMs} ms` })
    })
  )

/** A match for `awaitSignal`: the notification of this method (optionally also passing `also`). */
export const method =
  <M extends TurnNotification["method"]>(m: M, also: (n: Extract<TurnNotification, { method: M }>) => boolean = () => true) =>
  (n: TurnNotification): n is Extract<TurnNotification, { method: M }> =>
    n.method === m && also(n as Extract<TurnNotification, { method: M }>)

/**
 * `answer` to `method` in the shape `schema` says, else a `protocol` failure. Decoded synchronously
 * into an Either (itself an Effect): a few answers are decoded every turn.
 */
export const decodeAnswer = <A, I>(schema: Schema.Schema<A, I>, method: string) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (answer: unknown): Effect.Effect<A, AppServerError> =>
    Either.mapLeft(
      decode(answer),
      (e) => new AppServerError({ reason: "protocol", message: `codex app-server answered ${method} in a shape not understood: ${e.message}` })
    )
}
