/**
 * Starts one `codex app-server` and speaks JSON-RPC with it over its stdio (PROTOCOL.md §8,
 * CODEX.md "`codex app-server`"). The process gets its own process group, recorded in
 * ProcessGroups so the next plugin start reaps it after a SIGKILLed plugin. Closing the scope closes
 * its stdin (it exits within ~40 ms, its children with it), then ends whatever is left of the group
 * (TERM → grace → KILL). Every request the app-server sends is answered, never left hanging.
 */
import { Cause, Deferred, Effect, Either, FiberId, HashMap, Mailbox, Option, Ref, Schema, type Scope } from "effect"
import {
  type AppRpcId,
  AppServerMessage,
  type AppServerNotification,
  DynamicToolCallParams,
  InitializeResult,
  notificationThreadId,
  turnNotificationOf
} from "../schemas/AppServerWire.ts"
import { versionOfUserAgent } from "../core/codex/AppServerArgs.ts"
import { PLUGIN_VERSION } from "../schemas/Manifest.ts"
import { spawnDetached } from "../core/DetachedChild.ts"
import { forEachLines, isOverlong, type Line, lineText } from "../core/LineStream.ts"
import { acquireReleaseInScope } from "../core/ScopeFinalizers.ts"
import { ENV_RUN_MARK, newRunMark } from "../core/RunMark.ts"
import { endStdoutHolders, stdoutLinkOf } from "../core/StdoutHolders.ts"
import {
  AppServerError,
  type AppServerConnectionShape,
  type ThreadSignal,
  type ToolCallHandler
} from "../services/AppServerConnection.ts"
import type { ProcessGroupsShape } from "../services/ProcessGroups.ts"

export interface AppServerSpawn {
  readonly binary: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  /** A longer stdout line is dropped with a warning; default 64 MiB. */
  readonly maxLineBytes?: number
  /** How long `initialize` may take; default 30 s. */
  readonly initializeTimeoutMs?: number
}

const STDERR_TAIL = 8 * 1024
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000

/**
 * The part of stderr worth a one-line message: codex's `Error:` line if it printed one, else its
 * last lines, without backtrace frames.
 */
export const stderrSummary = (text: string): string => {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && l !== "Stack backtrace:" && !/^\d+: /.test(l) && !/^at /.test(l))
  const errors = lines.filter((l) => l.startsWith("Error:"))
  return (errors.length > 0 ? errors.slice(-1) : lines.slice(-2)).join(" | ")
}

const spawnAppServer = (spec: AppServerSpawn, mark: string) =>
  spawnDetached({ ...spec, env: { ...spec.env, [ENV_RUN_MARK]: mark } }, {
    stderrTailBytes: STDERR_TAIL,
    failure: (e) =>
      new AppServerError({ reason: "not_found", message: `could not start codex app-server ("${spec.binary}"): ${e.code ?? e.message}`, cause: e })
  })

/** The answers to server→client requests other than `item/tool/call` (CODEX.md: answer every one). */
const refusal = (method: string): { result: unknown } | { error: { code: number; message: string } } => {
  switch (method) {
    case "item/commandExecution/requestApproval":
    case "item/fileChange/requestApproval":
      return { result: { decision: "decline" } }
    case "execCommandApproval":
    case "applyPatchApproval":
      return { result: { decision: "denied" } }
    case "mcpServer/elicitation/request":
      return { result: { action: "decline" } }
    case "item/tool/requestUserInput":
      return { result: { answers: {} } }
    default:
      return { error: { code: -32601, message: `${method} is not supported by this client (plexum-openai-provider)` } }
  }
}

const parseJson = (text: string): Either.Either<unknown, unknown> => Either.try(() => JSON.parse(text) as unknown)
// Synchronous decodes (Either): a few messages a turn go through them.
const decodeMessage = Schema.decodeUnknownEither(AppServerMessage)
const decodeToolCall = Schema.decodeUnknownEither(DynamicToolCallParams)
const decodeInitialize = Schema.decodeUnknown(InitializeResult)

/** The requests waiting for their answers; `gone`: the app-server's end, once announced. */
interface Calls {
  readonly nextId: number
  readonly pending: HashMap.HashMap<AppRpcId, Deferred.Deferred<unknown, AppServerError>>
  readonly gone: AppServerError | undefined
}

export const startAppServerConnection = (
  spec: AppServerSpawn,
  groups: ProcessGroupsShape
): Effect.Effect<AppServerConnectionShape, AppServerError, Scope.Scope> =>
  Effect.gen(function* () {
    // What the app-server starts outside its group (codex's shell snapshot) carries this mark.
    const mark = newRunMark()
    const spawned = yield* Effect.acquireRelease(
      Effect.tap(spawnAppServer(spec, mark), (s) => groups.track(s.child.pid!, mark)),
      (s) =>
        Effect.gen(function* () {
          // stdin EOF is the app-server's own way out (children included); the group end is the backstop.
          s.child.stdin.end()
          // A plain race, not Effect.timeout: a finalizer is uninterruptible, so a timeout could not cut the wait.
          yield* Effect.promise(() => Promise.race([s.exit, new Promise((r) => setTimeout(r, 2_000).unref())]))
          yield* groups.end(s.child.pid!, mark)
          yield* groups.untrack(s.child.pid!)
          s.child.stdout.destroy()
          s.child.stderr.destroy()
        })
    )
    const { child } = spawned
    const pgid = child.pid!

    const exited = yield* Deferred.make<AppServerError>()
    // The requests waiting for an answer, and whether the app-server is gone: in one Ref, so a request
    // registers (or learns of the exit) in one step, and the exit takes every waiting one in one step.
    const calls = yield* Ref.make<Calls>({ nextId: 1, pending: HashMap.empty(), gone: undefined })
    const subscribers = yield* Ref.make(HashMap.empty<string, Mailbox.Mailbox<ThreadSignal>>())
    const toolHandlers = yield* Ref.make(HashMap.empty<string, ToolCallHandler>())
    const connectionScope = yield* Effect.scope

    const write = (message: unknown) =>
      Effect.sync(() => {
        if (!child.stdin.writable) return
        child.stdin.write(`${JSON.stringify(message)}\n`)
      })

    const exitError = (exit: { code: number | null; signal: NodeJS.Signals | null }) => {
      const tail = stderrSummary(spawned.stderr.text())
      const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`
      return new AppServerError({ reason: "exit", message: `codex app-server ${how}${tail ? `: ${tail}` : ""}` })
    }

    // The process ended: every waiting request and every subscribed turn learns it, once every line
    // it wrote before has been dispatched (below). Not to be cut short: the first turn to hear of it
    // closes this connection's scope, and the others must hear too.
    const announce = (error: AppServerError) =>
      Effect.uninterruptible(Effect.gen(function* () {
        if (!(yield* Deferred.succeed(exited, error))) return // told once
        const waiting = yield* Ref.modify(calls, (c) => [c.pending, { ...c, pending: HashMap.empty(), gone: error }])
        yield* Effect.forEach(HashMap.values(waiting), (d) => Deferred.fail(d, error), { discard: true })
        const subs = yield* Ref.get(subscribers)
        for (const mailbox of HashMap.values(subs)) mailbox.unsafeOffer({ _tag: "Exited", error })
      }))
    const announceExit = Effect.flatMap(Effect.promise(() => spawned.exit), (exit) => announce(exitError(exit)))
    // Closed by the plugin while still running (discarded after a failed cancel, a config change):
    // the reader is interrupted before the exit, so those waiting hear it here, not at their timeouts.
    yield* Effect.addFinalizer(() =>
      announce(new AppServerError({ reason: "exit", message: "codex app-server was stopped by the plugin" }))
    )
    // At its exit (or death) what it left is ended, and whatever else still holds its stdout, so the
    // reader below reaches end of file.
    const stdoutLink = stdoutLinkOf(pgid)
    const stdoutEnded = yield* Deferred.make<void>()
    yield* Effect.promise(() => spawned.exit).pipe(
      Effect.zipRight(groups.end(pgid, mark)),
      Effect.zipRight(endStdoutHolders("codex app-server", stdoutLink, Deferred.isDone(stdoutEnded), groups.endProcesses)),
      Effect.forkScoped
    )

    const answerToolCall = (id: AppRpcId, params: unknown) =>
      Effect.gen(function* () {
        const call = Either.getRight(decodeToolCall(params))
        if (Option.isNone(call)) {
          return yield* write({ id, error: { code: -32602, message: "item/tool/call params not understood" } })
        }
        const handler = HashMap.get(yield* Ref.get(toolHandlers), call.value.threadId)
        if (Option.isNone(handler)) {
          return yield* write({
            id,
            result: { contentItems: [{ type: "inputText", text: "no turn of this thread is running" }], success: false }
          })
        }
        // Whatever happens to the handler (the turn interrupted, the host gone), codex gets an answer.
        yield* handler.value(call.value).pipe(
          Effect.onExit((exit) =>
            write(
              exit._tag === "Success"
                ? { id, result: exit.value }
                : { id, result: { contentItems: [{ type: "inputText", text: "the host tool call was cancelled" }], success: false } }
            )
          ),
          Effect.ignore,
          Effect.forkIn(connectionScope)
        )
      })

    /** A request or an answer (a few per turn): decoded against the whole message union, then handled. */
    const dispatchMessage = (json: unknown, line: string) =>
      Effect.gen(function* () {
        const message = Either.getRight(decodeMessage(json))
        if (Option.isNone(message)) {
          return yield* Effect.logWarning(`codex app-server wrote a message of unknown shape: ${line.slice(0, 200)}`)
        }
        const m = message.value
        if ("method" in m && "id" in m) {
          if (m.method === "item/tool/call") return yield* answerToolCall(m.id, m.params)
          yield* Effect.logDebug(`codex app-server asked ${m.method}; refused`)
          return yield* write({ id: m.id, ...refusal(m.method) })
        }
        if ("method" in m) return yield* deliver(m)
        const waiting = yield* Ref.modify(calls, (c) => [HashMap.get(c.pending, m.id), { ...c, pending: HashMap.remove(c.pending, m.id) }])
        if (Option.isNone(waiting)) return
        if ("error" in m) {
          yield* Deferred.fail(waiting.value, new AppServerError({ reason: "rpc", code: m.error.code, message: m.error.message }))
        } else yield* Deferred.succeed(waiting.value, m.result)
      })

    /** A notification to the turn subscribed to its thread, decoded once; none is subscribed: dropped undecoded. */
    const deliver = (n: AppServerNotification) =>
      Effect.map(Ref.get(subscribers), (subs) => {
        deliverTo(subs, n)
      })
    const deliverTo = (subs: HashMap.HashMap<string, Mailbox.Mailbox<ThreadSignal>>, n: AppServerNotification) => {
      const threadId = notificationThreadId(n.params)
      if (threadId === undefined) return
      const mailbox = HashMap.get(subs, threadId)
      // An unbounded mailbox: the offer cannot wait.
      if (Option.isSome(mailbox)) mailbox.value.unsafeOffer({ _tag: "Notification", notification: turnNotificationOf(n) })
    }

    /**
     * One chunk of stdout lines, in order. Most lines are notifications (`{method, params}`, no
     * `id`): routed by hand on the parsed JSON, without an effect per line; anything else goes
     * through `dispatchMessage`, after which the subscribers are read again (a turn may have
     * subscribed on the answer it just got).
     */
    const dispatchLines = (lines: ReadonlyArray<Line>): Effect.Effect<void> => {
      const from = (start: number): Effect.Effect<void> =>
        Effect.flatMap(Ref.get(subscribers), (subs) => {
          for (let i = start; i < lines.length; i++) {
            const read = lines[i]!
            const next = Effect.suspend(() => from(i + 1))
            if (isOverlong(read)) {
              return Effect.zipRight(Effect.logWarning(`codex app-server wrote a line of ${read.bytes} bytes, over ${read.limit}; skipped`), next)
            }
            const line = lineText(read)
            if (line.trim() === "") continue
            const json = parseJson(line)
            if (Either.isLeft(json)) {
              return Effect.zipRight(Effect.logWarning(`codex app-server wrote a line that is not JSON: ${line.slice(0, 200)}`), next)
            }
            const m = json.right
            // Exactly what AppServerMessage decodes as a notification: an object with a string method and no id.
            if (typeof m === "object" && m !== null && !Array.isArray(m) && !("id" in m) && typeof (m as { method?: unknown }).method === "string") {
              const { method, params } = m as { method: string; params?: unknown }
              deliverTo(subs, "params" in m ? { method, params } : { method })
              continue
            }
            return Effect.zipRight(dispatchMessage(m, line), next)
          }
          return Effect.void
        })
      return from(0)
    }

    // The release above destroys stdout once the process is gone, not the reader: interrupted with
    // the scope, it must not cut the pipe under an app-server still finishing its writes.
    // Read to end of file, never less: a `turn/completed` still in the pipe reaches its turn before the exit does.
    yield* Effect.scoped(forEachLines(child.stdout, { maxLineBytes: spec.maxLineBytes ?? 64 * 1024 * 1024 }, { closeOnDone: false }, dispatchLines)).pipe(
      // A broken pipe ends the reading as end of file does.
      Effect.catchTag("ReadFailed", (e) => Effect.logWarning(`codex app-server stdout could not be read: ${String(e.cause)}`)),
      // A dispatch that died must not keep the exit from those waiting for it.
      Effect.catchAllCause((cause) => Effect.logError(`codex app-server reader failed: ${Cause.pretty(cause)}`)),
      Effect.zipRight(Deferred.succeed(stdoutEnded, undefined)),
      Effect.zipRight(announceExit),
      Effect.forkScoped
    )

    /**
     * One request: registered (or failed with the exit, announced before) in one Ref step, written,
     * then its answer awaited. The exit fails every request in `pending` (announce); the time
     * limit is a timer that fails the answer, not a fiber racing it. No span: a few run every turn.
     */
    const request = (method: string, params: unknown, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) =>
      Effect.suspend(() => {
        const answer = Deferred.unsafeMake<unknown, AppServerError>(FiberId.none)
        return Effect.flatMap(
          Ref.modify(calls, (c): [AppRpcId | AppServerError, Calls] =>
            c.gone !== undefined ? [c.gone, c] : [c.nextId, { ...c, nextId: c.nextId + 1, pending: HashMap.set(c.pending, c.nextId, answer) }]),
          (id) => {
            if (typeof id === "object") return Effect.fail(id)
            if (child.stdin.writable) child.stdin.write(`${JSON.stringify({ id, method, params })}\n`)
            const timer = setTimeout(() => {
              Deferred.unsafeDone(
                answer,
                Effect.fail(new AppServerError({ reason: "timeout", message: `codex app-server did not answer ${method} within ${timeoutMs} ms` }))
              )
            }, timeoutMs)
            return Effect.ensuring(
              Deferred.await(answer),
              Effect.suspend(() => {
                clearTimeout(timer)
                return Ref.update(calls, (c) => HashMap.has(c.pending, id) ? { ...c, pending: HashMap.remove(c.pending, id) } : c)
              })
            )
          }
        )
      })

    // Both per turn, released as they are (src/core/ScopeFinalizers.ts).
    const subscribe = (threadId: string) =>
      acquireReleaseInScope(
        Effect.gen(function* () {
          const mailbox = yield* Mailbox.make<ThreadSignal>()
          yield* Ref.update(subscribers, HashMap.set(threadId, mailbox))
          const done = yield* Deferred.poll(exited)
          if (Option.isSome(done)) mailbox.unsafeOffer({ _tag: "Exited", error: yield* done.value })
          return mailbox as Mailbox.ReadonlyMailbox<ThreadSignal>
        }),
        () => Ref.update(subscribers, HashMap.remove(threadId))
      )

    const serveTools = (threadId: string, handler: ToolCallHandler) =>
      acquireReleaseInScope(Ref.update(toolHandlers, HashMap.set(threadId, handler)), () =>
        Ref.update(toolHandlers, HashMap.remove(threadId))
      )

    const init = yield* request(
      "initialize",
      {
        clientInfo: { name: "plexum-openai-provider", title: "Plexum OpenAI provider", version: PLUGIN_VERSION },
        capabilities: { experimentalApi: true }
      },
      spec.initializeTimeoutMs ?? 30_000
    ).pipe(
      Effect.flatMap((r) =>
        decodeInitialize(r).pipe(
          Effect.mapError((e) => new AppServerError({ reason: "protocol", message: `initialize answer not understood: ${e.message}` }))
        )
      ),
      Effect.mapError((e) => new AppServerError({ ...e, message: `codex app-server did not initialize: ${e.message}` }))
    )
    yield* write({ method: "initialized" })

    return {
      pgid,
      version: versionOfUserAgent(init.userAgent),
      request,
      subscribe,
      serveTools,
      alive: Effect.map(Deferred.isDone(exited), (d) => !d),
      kill: Effect.asVoid(groups.end(pgid, mark))
    } satisfies AppServerConnectionShape
  })
