/**
 * How long the host waits after codex has exited: from codex's exit (recorded by a wrapper with a
 * bash builtin) to the host's receipt of the `provider/stream` answer, over warm one-message turns
 * through the exec engine. This is the plugin's share of a turn's end: reading codex's stdout to
 * its end, ending what codex left, the rollout's tool calls, the terminal event and the answer.
 */
import { readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { codexBin } from "../test/support/CodexOffline.ts"
import { startPluginHarness, userMessage } from "../test/support/PluginHarness.ts"
import { assistantMessage } from "../test/support/ScriptedModelServer.ts"
import { type BenchSection, fmtMs, median } from "./Harness.ts"

const wrapper = fileURLToPath(new URL("./fixtures/timed-codex.sh", import.meta.url))

export const run = async (): Promise<BenchSection> => {
  const rounds = 20
  const log = join(tmpdir(), `plexum-exit-times-${process.pid}.log`)
  rmSync(log, { force: true })
  const h = await startPluginHarness(() => ({ items: [assistantMessage("done")] }), {
    config: { binary: wrapper },
    env: { TIMED_CODEX_BIN: codexBin, TIMED_CODEX_LOG: log }
  })
  const gaps: Array<number> = []
  try {
    for (let i = 0; i < rounds + 2; i++) {
      const { response } = await h.turn(`exit-${i}`, { messages: [userMessage("hello")], session: { fresh: true } })
      const answered = performance.timeOrigin + performance.now()
      if (response.result?.status !== "completed") throw new Error(`turn failed: ${JSON.stringify(response)}`)
      const exits = readFileSync(log, "utf8").trim().split("\n")
      const exited = Number(exits.at(-1)) * 1000
      if (i >= 2) gaps.push(answered - exited)
    }
  } finally {
    await h.dispose()
    rmSync(log, { force: true })
  }
  const mid = median(gaps)
  const sorted = [...gaps].sort((a, b) => a - b)
  return {
    title: "From codex's exit to the host's answer (exec engine)",
    ok: mid <= 15,
    markdown: `
${rounds} warm one-message turns (after 2 warm-up turns), each on a fresh thread: codex runs under a wrapper
(bench/fixtures/timed-codex.sh) that records the moment it exited with a bash builtin; the host notes when the
\`provider/stream\` answer arrives. What lies between is the plugin's: codex's stdout read to its end, the
rollout's tool calls, the terminal event and the answer. What codex left is ended in the plugin's own scope once
codex exited 0 (a search for the run's mark, about 2 ms), on the same event loop: it can still delay an answer a little.

| | time |
|---|---|
| median | **${fmtMs(mid)}** (target ≤ 15 ms) |
| fastest / slowest | ${fmtMs(sorted[0]!)} / ${fmtMs(sorted.at(-1)!)} |
`
  }
}
