/**
 * The app-server engine (PROTOCOL.md §8) driven directly, against a bare `codex exec --json` of
 * the same scripted turn, alternating: a turn on the warm app-server (a new thread each time, as
 * the bare runs), and a turn after a mutation's unload (releaseThread, then resume + turn).
 */
import { Effect, Exit, Scope } from "effect"
import { codexOfflineArgs, runCodexExec } from "../test/support/CodexOffline.ts"
import { buildEngine, makeHooks, makePlan, makeWorld, runTurn, threadOf } from "../test/support/AppServerHarness.ts"
import { assistantMessage, startScriptedModelServer } from "../test/support/ScriptedModelServer.ts"
import { type BenchSection, fmtMs, fmtRatio, medianRatio } from "./Harness.ts"

export const run = async (): Promise<BenchSection> => {
  const rounds = 15
  const server = await startScriptedModelServer(() => ({ items: [assistantMessage("done")] }))
  const scope = Effect.runSync(Scope.make())
  try {
    const { world, engine } = await Effect.runPromise(
      Effect.gen(function* () {
        const world = yield* makeWorld(server.baseUrl)
        const engine = yield* buildEngine(world)
        return { world, engine }
      }).pipe(Scope.extend(scope))
    )
    const { hooks } = makeHooks()
    const turn = async (resumeThreadId?: string) => {
      const r = await Effect.runPromise(runTurn(engine, makePlan(world, { text: "hello", resumeThreadId }), hooks))
      if (r.failure !== undefined) throw new Error(`app-server turn failed: ${r.failure.message}`)
      return threadOf(r.events)
    }
    const bare = async () => {
      const r = await runCodexExec({
        codexHome: world.paths.codexHome,
        cwd: world.workspace,
        args: ["--sandbox", "workspace-write", ...codexOfflineArgs(server.baseUrl)],
        prompt: "hello"
      })
      if (r.code !== 0) throw new Error(`bare codex failed: ${r.stderr.slice(-500)}`)
    }
    await turn() // starts the app-server: the figures are about a warm one
    const warm = await medianRatio(rounds, () => turn(), bare)
    const thread = await turn()
    const afterMutation = await medianRatio(
      rounds,
      async () => {
        await Effect.runPromise(engine.releaseThread(thread))
        await turn(thread)
      },
      bare
    )
    const ok = warm.ratio <= 0.4 && afterMutation.ratio <= 0.6
    return {
      title: "The app-server engine against bare codex exec",
      ok,
      markdown: `
The app-server engine driven directly (engine Layer, real codex app-server against the loopback model server) against
\`codex exec --json\` of the same one-message turn. ${rounds} alternating runs each, after 2 warm-up rounds.

| path | median | ratio to bare exec | target |
|---|---|---|---|
| bare \`codex exec --json\` (new thread) | ${fmtMs(warm.b)} | 1.00× | |
| warm app-server, new thread + turn | ${fmtMs(warm.a)} | **${fmtRatio(warm.ratio)}** | ≤ 0.40× |
| bare \`codex exec --json\` (second series) | ${fmtMs(afterMutation.b)} | 1.00× | |
| unload (releaseThread) + resume + turn | ${fmtMs(afterMutation.a)} | **${fmtRatio(afterMutation.ratio)}** | ≤ 0.60× |
`
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.close()
  }
}
