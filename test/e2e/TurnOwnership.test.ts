// Turn state is the plugin's, not the config's: a repeated initialize with a changed config.json
// while a turn runs leaves that turn busy, cancellable and holding its thread (PROTOCOL.md §2).
import { readdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { afterEach, expect, it } from "vitest"
import { holdThreadWithRunningTurn, type PluginHarness, startPluginHarness, threadInUseScript, userMessage } from "../support/PluginHarness.ts"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

it("re-initialize with a changed config mid-turn: the agent stays busy, the turn stays cancellable, a mutate of its thread waits", async () => {
  harness = await startPluginHarness(threadInUseScript("call_first"))
  const h = harness
  const { agent, threadId, running } = await holdThreadWithRunningTurn(h)

  // The host edits config.json and initializes again while t2 runs.
  const configPath = join(h.profileRoot, "plugins/plexum-openai-provider/config.json")
  const config = JSON.parse(await readFile(configPath, "utf8"))
  await writeFile(configPath, JSON.stringify({ ...config, consume_marker: "[consumed]", turn_timeout_ms: 600_000 }))
  expect((await h.host.initialize()).result).toBeDefined()

  expect((await h.host.request("provider/stream", h.streamParams("t3", { messages: [userMessage("again")] }))).error?.code).toBe(-32003)
  let answered = false
  const mutation = h.host
    .request("session/mutate", { agent, threadId, mutations: [{ blockId: "call_first", op: "light" }] })
    .then((r) => ((answered = true), r))
  await new Promise((r) => setTimeout(r, 1_000))
  expect(answered).toBe(false) // codex is still writing that thread

  expect((await h.host.request("provider/cancel", { turnId: "t2" })).result).toEqual({ cancelled: true })
  expect((await running).result.status).toBe("cancelled")
  expect(h.host.eventsOf("t2").at(-1)).toMatchObject({ type: "turn.failed", code: "cancelled" })
  // The mutation ran after the turn, with the new config's marker.
  expect((await mutation).result).toEqual({ touched: 1, missing: [] })
  const again = await h.host.request("session/mutate", { agent, threadId, mutations: [{ blockId: "call_first", op: "light" }] })
  expect(again.result).toEqual({ touched: 0, missing: [] })
  const files = await readdir(join(h.codexHome, "sessions"), { recursive: true })
  const file = files.find((f) => f.endsWith(`${threadId}.jsonl`))!
  const output = (await readFile(join(h.codexHome, "sessions", file), "utf8"))
    .split("\n")
    .filter((l) => l.includes('"function_call_output"') && l.includes("call_first"))
  expect(output).toHaveLength(1)
  expect(JSON.parse(output[0]!).payload.output).toBe("[consumed]")
})
