/**
 * Start-up is paid on every turn (codex starts `mcp-host` before each one) and
 * whenever a host starts the plugin: `manifest` against `node -e 0`, alternating.
 */
import { fileURLToPath } from "node:url"
import { type BenchSection, fmtMs, fmtRatio, medianRatio, runChild } from "./Harness.ts"

const bin = fileURLToPath(new URL("../bin/plexum-openai-provider-plugin", import.meta.url))

export const run = async (): Promise<BenchSection> => {
  const rounds = 30
  const { a: plugin, b: node, ratio } = await medianRatio(
    rounds,
    () => runChild(process.execPath, [bin, "manifest"]),
    () => runChild(process.execPath, ["-e", "0"])
  )
  const ok = ratio <= 3
  return {
    title: "Start-up: `manifest`",
    ok,
    markdown: `
\`bin/plexum-openai-provider-plugin manifest\` (process start to exit) against \`node -e 0\`, ${rounds} alternating runs each.

| command | median |
|---|---|
| \`node -e 0\` | ${fmtMs(node)} |
| \`plexum-openai-provider-plugin manifest\` | ${fmtMs(plugin)} |
| ratio | **${fmtRatio(ratio)}** (target ≤ 3×) |

Why it is fast: the executable loads an esbuild bundle (CommonJS) through \`vm.Script\` with a V8 code cache written at build time, and imports \`@effect/platform-node\` modules one by one (the package index pulls in an HTTP client).
`
  }
}
