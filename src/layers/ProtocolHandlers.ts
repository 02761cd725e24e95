/**
 * The protocol's method table (PROTOCOL.md §2): what each host request does.
 * `initialize` gates everything else; turns and mutations are delegated to
 * the services that own them.
 */
import { Context, Effect, Exit, Layer, Option, Ref, Scope } from "effect"
import { method, RpcFailure, type RpcRouter } from "../core/RpcRouter.ts"
import { ErrorCode, type RpcId } from "../schemas/JsonRpc.ts"
import { makeManifest } from "../schemas/Manifest.ts"
import { CancelParams, InitializeParams, MutateParams, PROTOCOL_VERSION, StreamParams } from "../schemas/Protocol.ts"
import type { Config } from "../schemas/Config.ts"
import { ActiveConfig, loadConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { PluginTransport } from "../services/PluginTransport.ts"
import { RolloutStore } from "../services/RolloutStore.ts"
import { SessionStore } from "../services/SessionStore.ts"
import { TurnRunner } from "../services/TurnRunner.ts"
import { TurnServicesLive } from "./TurnServicesLive.ts"

/** What a successful `initialize` sets up: the config in force and the services built from it. */
interface Session {
  readonly config: Config
  readonly services: Context.Context<TurnRunner | RolloutStore | SessionStore>
}

export const makeProtocolRouter = Effect.gen(function* () {
  const transport = yield* PluginTransport
  const paths = yield* PluginPaths
  const active = yield* Ref.make(Option.none<Session>())
  // Services built by initialize live until the plugin shuts down.
  const servicesScope = yield* Scope.make()
  /**
   * Every session built so far: a repeated `initialize` with a changed config builds new services
   * while turns of the old ones may still run, and shutdown must cancel those too.
   */
  const built: Array<Session> = []
  /** provider/stream request id → turn id, for `$/cancelRequest`. */
  const turnOfRequest = new Map<RpcId, string>()

  const notInitialized = new RpcFailure({
    code: ErrorCode.NotInitialized,
    message: "not initialized: send initialize first"
  })
  /** Runs `body` only after a successful initialize, with the config in force. */
  const initialized = <A>(body: (session: Session) => Effect.Effect<A, RpcFailure>) =>
    Effect.flatMap(Ref.get(active), Option.match({ onNone: () => Effect.fail(notInitialized), onSome: body }))

  const initialize = method(InitializeParams, () =>
    Effect.gen(function* () {
      const loaded = yield* loadConfig(paths.configPath).pipe(
        Effect.mapError(
          (e) =>
            new RpcFailure({
              code: ErrorCode.ConfigInvalid,
              message: `config invalid: ${e.message}`,
              data: { path: e.path, message: e.message }
            })
        )
      )
      for (const field of loaded.unknownFields) {
        yield* transport.log("warn", `unknown config field "${field}" in ${paths.configPath} is ignored`, {
          path: paths.configPath,
          field
        })
      }
      // The same config again (a host re-initializing) keeps the services, and with them the
      // running turns, busy agents and registrations they know.
      const same = built.find((s) => JSON.stringify(s.config) === JSON.stringify(loaded.config))
      const session =
        same ??
        {
          config: loaded.config,
          services: yield* Layer.buildWithScope(
            TurnServicesLive.pipe(Layer.provide(Layer.succeed(ActiveConfig, loaded.config))),
            servicesScope
          ).pipe(Effect.provideService(PluginTransport, transport), Effect.provideService(PluginPaths, paths), Effect.orDie)
        }
      if (same === undefined) built.push(session)
      yield* Ref.set(active, Option.some(session))
      yield* transport.log("info", "plexum-openai-provider initialized", {
        binary: loaded.config.binary,
        models: loaded.config.supported_models,
        config: loaded.fromFile ? paths.configPath : "defaults"
      })
      return { protocolVersion: PROTOCOL_VERSION, manifest: makeManifest(loaded.config) }
    })
  )

  const stream = method(StreamParams, (params, ctx) =>
    initialized(({ services }) => {
      const turns = Context.get(services, TurnRunner)
      let seq = 0
      const emit = (events: ReadonlyArray<unknown>) =>
        transport.notifyAll(
          "provider/event",
          events.map((event) => ({ turnId: params.turnId, seq: seq++, event }))
        )
      turnOfRequest.set(ctx.id, params.turnId)
      return turns.run(params, emit).pipe(
        Effect.catchTags({
          AgentBusy: (e) => Effect.fail(new RpcFailure({ code: ErrorCode.AgentBusy, message: e.message, data: { runningTurnId: e.runningTurnId } })),
          ModelNotServed: (e) => Effect.fail(new RpcFailure({ code: ErrorCode.ModelNotServed, message: e.message }))
        }),
        Effect.ensuring(Effect.sync(() => turnOfRequest.delete(ctx.id)))
      )
    })
  )

  const cancel = method(CancelParams, ({ turnId }) =>
    initialized(({ services }) => Effect.map(Context.get(services, TurnRunner).cancel(turnId), (cancelled) => ({ cancelled })))
  )

  const cancelRequest = (params: unknown) =>
    Effect.gen(function* () {
      const id = (params as { id?: unknown } | undefined)?.id
      const turnId = typeof id === "string" || typeof id === "number" ? turnOfRequest.get(id) : undefined
      const session = yield* Ref.get(active)
      if (turnId === undefined || Option.isNone(session)) return
      yield* Context.get(session.value.services, TurnRunner).cancel(turnId)
    })

  const noRollout = (threadId: string | undefined, why: string) =>
    new RpcFailure({ code: ErrorCode.NoRollout, message: `no rollout for this thread: ${why}`, data: { threadId } })

  const mutate = method(MutateParams, (params) =>
    initialized(({ config, services }) =>
      Effect.gen(function* () {
        const rollouts = Context.get(services, RolloutStore)
        const threadId =
          params.threadId ??
          Option.getOrUndefined(yield* Context.get(services, SessionStore).lastThread(params.agent.agentId, params.agent.workspace))
        if (threadId === undefined) return yield* noRollout(undefined, `agent ${params.agent.agentId} has no thread in ${params.agent.workspace}`)
        const path = yield* rollouts.find(threadId).pipe(Effect.mapError((e) => noRollout(threadId, e.message)))
        // Never rewrite under a running codex: mutate takes the thread's lock, which a turn of
        // that thread holds while codex runs and until its tool blocks are read.
        const result = yield* rollouts.mutate(path, params.mutations, config.consume_marker).pipe(
          Effect.mapError((e) =>
            e._tag === "ThreadInUse"
              ? new RpcFailure({ code: ErrorCode.ThreadInUse, message: "thread in use by another codex process", data: { threadId, reason: e.message } })
              : new RpcFailure({ code: ErrorCode.Internal, message: `cannot rewrite ${path}: ${e.message}` })
          )
        )
        yield* transport.log("info", "consume mirror applied", { threadId, path, touched: result.touched, missing: result.missing.length })
        return result
      })
    )
  )

  const router: RpcRouter = {
    requests: new Map([
      ["initialize", initialize],
      ["shutdown", () => initialized(() => Effect.succeed(null))],
      ["provider/stream", stream],
      ["provider/cancel", cancel],
      ["session/mutate", mutate]
    ]),
    notifications: new Map([["$/cancelRequest", cancelRequest]]),
    inline: new Set(["initialize"]),
    // stdin ended: cancel running turns (their requests answer "cancelled"), then close the services.
    onShutdown: Effect.forEach(built, ({ services }) => Context.get(services, TurnRunner).cancelAll, {
      concurrency: "unbounded",
      discard: true
    }).pipe(Effect.zipRight(Scope.close(servicesScope, Exit.void)))
  }
  return router
})
