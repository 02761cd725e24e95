// The version of the codex the tests run (`codexBin`, see CodexOffline.ts), for the few end-to-end
// assertions that depend on a feature older versions lack (docs/compatibility.md).
import { execFileSync } from "node:child_process"
import { compareCodexVersions, parseCodexVersion } from "../../src/core/codex/CodexVersionRange.ts"
import { codexBin } from "./CodexOffline.ts"

/** "0.171.0" for `codex-cli 0.171.0`. */
export const codexVersion: string = (() => {
  const out = execFileSync(codexBin, ["--version"], { encoding: "utf8" })
  const parsed = parseCodexVersion(out)
  if (parsed === undefined) throw new Error(`cannot read a version from \`${codexBin} --version\`: ${out}`)
  return parsed.join(".")
})()

/** Whether the codex under test is `version` or newer. */
export const codexAtLeast = (version: string): boolean =>
  compareCodexVersions(parseCodexVersion(codexVersion)!, parseCodexVersion(version)!) >= 0
