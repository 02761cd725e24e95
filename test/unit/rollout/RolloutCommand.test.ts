import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { afterEach, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { makeRolloutCommand } from "../../../src/commands/RolloutCommand.ts"
import { RolloutToolsLive } from "../../../src/layers/MainLive.ts"
import { colorStyle, escapeForTerminal, plainStyle, renderCall, renderReport, wantsColor } from "../../../src/core/rollout/RolloutReportText.ts"
import { withReadHandle } from "../../../src/core/rollout/RolloutLineScanner.ts"
import { buildReport, PREVIEW_CHARS, previewOf } from "../../../src/core/rollout/RolloutReport.ts"
import { rewriteRollout } from "../../../src/core/rollout/RolloutRewrite.ts"
import { PluginPaths } from "../../../src/services/PluginPaths.ts"
import { HOSTILE, MARKER, RECORDED_TWO_TURNS, tempDir } from "./RolloutTestKit.ts"

const THREAD = "01a21277-0aee-7391-8f57-254533d12121"

const setup = async () => {
  const root = await tempDir()
  const codexHome = Path.join(root, "codex")
  const stateDir = Path.join(root, "state")
  const day = Path.join(codexHome, "sessions", "2026", "11", "25")
  await Fs.mkdir(day, { recursive: true })
  const rollout = Path.join(day, `rollout-2026-11-25T11-28-41-${THREAD}.jsonl`)
  await Fs.copyFile(RECORDED_TWO_TURNS, rollout)
  await rewriteRollout(rollout, [{ blockId: "call_A1", op: "light" }], MARKER)
  return { root, codexHome, stateDir, rollout, configPath: Path.join(root, "config.json") }
}

/** Runs `plugin rollout …` like the CLI main does, capturing what goes to stdout. */
const runCli = (env: Awaited<ReturnType<typeof setup>>, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const spy = vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => void out.push(a.join(" ")))
    const root = Command.make("plugin").pipe(Command.withSubcommands([makeRolloutCommand(RolloutToolsLive)]))
    const exit = yield* Command.run(root, { name: "plugin", version: "0" })(["node", "plugin", "rollout", ...args]).pipe(
      Effect.provide(
        Layer.mergeAll(
          NodeContext.layer,
          Layer.succeed(PluginPaths, {
            profileRoot: env.root,
            codexHome: env.codexHome,
            pluginDir: env.root,
            configPath: env.configPath,
            stateDir: env.stateDir
          })
        )
      ),
      Effect.exit,
      Effect.ensuring(Effect.sync(() => spy.mockRestore()))
    )
    return { exit, stdout: out.join("\n") }
  })

describe("rollout inspect", () => {
  let noColor: string | undefined
  beforeEach(() => {
    noColor = process.env.NO_COLOR
  })
  afterEach(() => {
    if (noColor === undefined) delete process.env.NO_COLOR
    else process.env.NO_COLOR = noColor
  })

  it.live("shows thread, model, turns, tool calls with consumed state, usage", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const { exit, stdout } = yield* runCli(env, ["inspect", THREAD])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(stdout).toContain(`thread     ${THREAD}`)
      expect(stdout).toContain("codex      0.169.0")
      expect(stdout).toContain("model      mock-model")
      expect(stdout).toMatch(/1\. line 2 +run the tool please +1 tool call/)
      expect(stdout).toMatch(/2\. line 22 +now patch +1 tool call/)
      expect(stdout).toMatch(/call_A1 +exec_command \(function\) +in 36 B +out 16 B +consumed/)
      expect(stdout).toMatch(/call_P1 +apply_patch \(custom\) +in 57 B +out 41 B +live/)
      expect(stdout).toContain("thread total: input 40, cached 8, output 20, reasoning 4, total 60")
      expect(stdout).toContain("warnings (0)")
      expect(stdout).not.toContain("\u001b") // not a TTY: no colour
    })
  )

  it.live("--json gives the same facts as one JSON document; a path works as well as an id", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const { exit, stdout } = yield* runCli(env, ["inspect", "--json", env.rollout])
      expect(Exit.isSuccess(exit)).toBe(true)
      const report = JSON.parse(stdout)
      expect(report).toMatchObject({ file: env.rollout, threadId: THREAD, cwd: "/tmp/rprobe/ws", cliVersion: "0.169.0", model: "mock-model" })
      expect(report.turns.map((t: { prompt: string }) => t.prompt)).toEqual(["run the tool please", "now patch"])
      expect(report.toolCalls.map((c: { callId: string; consumed: boolean; paired: boolean }) => [c.callId, c.consumed, c.paired])).toEqual([
        ["call_A1", true, true],
        ["call_P1", false, true]
      ])
    })
  )

  it.live("shows a one-line, escaped preview of each call's arguments and output; a consumed one shows the marker", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const { stdout } = yield* runCli(env, ["inspect", THREAD])
      const lines = stdout.split("\n")
      const after = (callId: string) => lines.slice(lines.findIndex((l) => l.includes(callId)) + 1).slice(0, 2)
      expect(after("call_A1")).toEqual([`      args {"cmd":"printf 'hi\\\\033[31mred\\\\n'"}`, `      out  ${MARKER}`])
      expect(after("call_P1")).toEqual([
        "      args *** Begin Patch\\n*** Add File: a.txt\\n+hello\\n*** End Patch\\n",
        "      out  unsupported custom tool call: apply_patch"
      ])
    })
  )

  it("cuts a long preview, and escapes what the file holds in it", async () => {
    const report = await withReadHandle(HOSTILE, (fh) => buildReport(fh, HOSTILE, MARKER))
    const ls = report.toolCalls.find((c) => c.callId === "call_ls")!
    expect(ls.outputPreview).toBe("a.txt\n\u001b[2J\u001b[31mevil\u009b31m\r\nb.txt 😀 \u2028 \u202e")
    const text = renderReport(report, plainStyle)
    expect(text).toContain("      out  a.txt\\n\\x1b[2J\\x1b[31mevil\\x9b31m\\r\\nb.txt 😀 \\u2028 \\u202e")
    expect(previewOf("x".repeat(500))).toBe(`${"x".repeat(PREVIEW_CHARS - 1)}…`)
    // Values are kept only when asked.
    expect(ls.output).toBeUndefined()
  })

  it.live("--call prints that call's complete arguments and output, escaped line by line", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const { exit, stdout } = yield* runCli(env, ["inspect", "--call", "call_P1", THREAD])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(stdout).toContain("call       call_P1")
      expect(stdout).toContain("name       apply_patch (custom)")
      expect(stdout).toContain("state      live")
      expect(stdout).toContain("arguments (57 B)\n  *** Begin Patch\n  *** Add File: a.txt\n  +hello\n  *** End Patch\n")
      expect(stdout).toContain("output (41 B)\n  unsupported custom tool call: apply_patch")
      const json = yield* runCli(env, ["inspect", "--call", "call_P1", "--json", THREAD])
      expect(JSON.parse(json.stdout).call).toMatchObject({
        callId: "call_P1",
        input: "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n",
        output: "unsupported custom tool call: apply_patch"
      })
      const missing = yield* runCli(env, ["inspect", "--call", "call_nope", THREAD])
      const error = Exit.isFailure(missing.exit) ? (missing.exit.cause as { error?: { message: string } }).error : undefined
      expect(error?.message).toBe(`no tool call call_nope in ${env.rollout}`)
    })
  )

  it("--call shows a file's escape sequences escaped, never raw", async () => {
    const report = await withReadHandle(HOSTILE, (fh) => buildReport(fh, HOSTILE, MARKER, { keepValues: (id) => id === "call_ls" }))
    const text = renderCall(report, report.toolCalls.find((c) => c.callId === "call_ls")!, plainStyle)
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
    expect(text).toContain("  \\x1b[2J\\x1b[31mevil\\x9b31m\\r")
  })

  it.live("--json carries the previews; --json --full the complete arguments and outputs", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const previews = JSON.parse((yield* runCli(env, ["inspect", "--json", THREAD])).stdout)
      expect(previews.toolCalls[0]).toMatchObject({ callId: "call_A1", inputPreview: `{"cmd":"printf 'hi\\\\033[31mred\\\\n'"}`, outputPreview: MARKER })
      expect(previews.toolCalls[1].outputPreview).toBe("unsupported custom tool call: apply_patch")
      expect("input" in previews.toolCalls[0] || "output" in previews.toolCalls[0]).toBe(false)
      const full = JSON.parse((yield* runCli(env, ["inspect", "--json", "--full", THREAD])).stdout)
      expect(full.toolCalls.map((c: { input: unknown; output: unknown }) => [c.input, c.output])).toEqual([
        [`{"cmd":"printf 'hi\\\\033[31mred\\\\n'"}`, MARKER],
        ["*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n", "unsupported custom tool call: apply_patch"]
      ])
    })
  )

  it.live("an unknown id or path fails with one line naming it", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const unknown = yield* runCli(env, ["inspect", "0199ffff-0000-7000-8000-000000000000"])
      expect(unknown.exit).toMatchObject({ _tag: "Failure" })
      const error = Exit.isFailure(unknown.exit) ? (unknown.exit.cause as { error?: { message: string; _tag: string } }).error : undefined
      expect(error?._tag).toBe("RolloutCommandFailed")
      expect(error?.message).toBe(`no rollout for thread 0199ffff-0000-7000-8000-000000000000 under ${env.codexHome}`)
      const badPath = yield* runCli(env, ["inspect", "/nowhere/rollout.jsonl"])
      const pathError = Exit.isFailure(badPath.exit) ? (badPath.exit.cause as { error?: { message: string } }).error : undefined
      expect(pathError?.message).toBe("no rollout file at /nowhere/rollout.jsonl")
      expect(pathError?.message).not.toContain("\n")
      const invalid = yield* runCli(env, ["inspect", "..evil\u001b[2J"])
      const invalidError = Exit.isFailure(invalid.exit) ? (invalid.exit.cause as { error?: { message: string } }).error : undefined
      expect(invalidError?.message).not.toContain("\u001b")
    })
  )

  it.live("--codex-home points at another CODEX_HOME", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const other = yield* Effect.promise(tempDir)
      const miss = yield* runCli(env, ["inspect", "--codex-home", other, THREAD])
      expect(Exit.isFailure(miss.exit)).toBe(true)
      const hit = yield* runCli(env, ["inspect", "--codex-home", env.codexHome, "--json", THREAD])
      expect(JSON.parse(hit.stdout).threadId).toBe(THREAD)
    })
  )

  it("escapes control characters from the file, and colours only when asked", async () => {
    const report = await withReadHandle(HOSTILE, (fh) => buildReport(fh, HOSTILE, MARKER))
    const text = renderReport(report, colorStyle)
    // The only ESC bytes are our own SGR sequences; the file's ESC/BEL/C1/bidi are shown escaped.
    expect(text.replace(/\u001b\[[0-9]+m/g, "")).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
    expect(text).toContain("/work/\\x1b[31mred\\x1b[0m")
    expect(text).toContain("please \\x1b]0;pwned\\x07 list files and more")
    expect(escapeForTerminal("a\u009bb\u202ec\r\n")).toBe("a\\x9bb\\u202ec\\r\\n")
    expect(wantsColor(true, {})).toBe(true)
    expect(wantsColor(true, { NO_COLOR: "1" })).toBe(false)
    expect(wantsColor(true, { NO_COLOR: "" })).toBe(false)
    expect(wantsColor(false, {})).toBe(false)
  })

  it("reports what is wrong with a hostile file", async () => {
    const r = await withReadHandle(HOSTILE, (fh) => buildReport(fh, HOSTILE, MARKER))
    expect(r.warnings.badLines.map((b) => b.line)).toEqual([13, 20, 21])
    expect(r.warnings.unknownLineTypes).toEqual({ hologram: 1 })
    expect(r.warnings.unknownPayloadTypes).toEqual({ quantum_entanglement: 1 })
    expect(r.warnings.blankLines).toBe(1)
    expect(r.warnings.orphanOutputs).toBe(1)
    expect(r.warnings.incompleteLastLineBytes).toBeGreaterThan(100)
    expect(r.warnings.noSessionMeta).toBe(false)
    expect(r.model).toBe("gpt-5-codex")
    expect(r.turns).toHaveLength(1)
    expect(r.tokenUsage?.total).toEqual({ inputTokens: 120, cachedInputTokens: 20, outputTokens: 30, reasoningOutputTokens: 5, totalTokens: 150 })
    expect(r.toolCalls.find((c) => c.callId === "call_unpaired")).toMatchObject({ paired: false })
    expect(r.toolCalls.find((c) => c.callId === "call_unpaired")?.outputBytes).toBeUndefined()
    const text = renderReport(r, { bold: (s) => s, dim: (s) => s, warn: (s) => s, ok: (s) => s })
    expect(text).toContain("line 13: not valid JSON")
    expect(text).toContain("unknown line type hologram ×1 (kept)")
    expect(text).toMatch(/incomplete last line \(\d+ B\): codex may still be writing/)
  })
})

describe("rollout list", () => {
  it.live("lists recorded threads per agent and workspace, newest first, with whether the rollout exists", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const sessions = Path.join(env.stateDir, "sessions")
      yield* Effect.promise(async () => {
        await Fs.mkdir(sessions, { recursive: true })
        await Fs.writeFile(
          Path.join(sessions, "a.json"),
          JSON.stringify({
            agentId: "agent-\u001b[31mone",
            workspace: "/w/one",
            lastThreadId: THREAD,
            threads: [
              { threadId: "gone-thread", startedAt: "2026-11-20T00:00:00Z", lastTurnAt: "2026-11-20T00:00:00Z" },
              { threadId: THREAD, startedAt: "2026-11-25T11:28:41Z", lastTurnAt: "2026-11-25T11:28:56Z" }
            ]
          })
        )
        await Fs.writeFile(
          Path.join(sessions, "b.json"),
          JSON.stringify({
            agentId: "agent-two",
            workspace: "/w/two",
            lastThreadId: "old",
            threads: [{ threadId: "old", startedAt: "2026-01-01T00:00:00Z", lastTurnAt: "2026-01-02T00:00:00Z" }]
          })
        )
        await Fs.writeFile(Path.join(sessions, "c.json"), "{broken")
      })
      const text = yield* runCli(env, ["list"])
      expect(Exit.isSuccess(text.exit)).toBe(true)
      const lines = text.stdout.split("\n")
      expect(lines[0]).toBe("agent agent-\\x1b[31mone  workspace /w/one")
      expect(lines[1]).toBe(`  * ${THREAD}  last turn 2026-11-25T11:28:56Z  ${env.rollout}`)
      expect(lines[2]).toBe("    gone-thread  last turn 2026-11-20T00:00:00Z  rollout missing")
      expect(lines[3]).toBe("agent agent-two  workspace /w/two")
      expect(text.stdout).toContain(`unreadable session record: ${Path.join(sessions, "c.json")}`)
      const json = JSON.parse((yield* runCli(env, ["list", "--json"])).stdout)
      expect(json.sessions.map((s: { agentId: string }) => s.agentId)).toEqual(["agent-\u001b[31mone", "agent-two"])
      expect(json.sessions[0].threads[1]).toMatchObject({ threadId: "gone-thread", rollout: null, current: false })
    })
  )

  it.live("says so when nothing was recorded", () =>
    Effect.gen(function* () {
      const env = yield* Effect.promise(setup)
      const { stdout } = yield* runCli(env, ["list"])
      expect(stdout).toContain("no threads recorded yet")
    })
  )
})
