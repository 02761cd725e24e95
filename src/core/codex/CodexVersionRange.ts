/**
 * The codex versions this plugin is tested against (`npm run compat`, docs/compatibility.md):
 * the oldest the end-to-end tier runs green on, up to the pinned `@openai/codex`, the optional
 * dependency that installs a codex with the plugin (test/unit/doctor/CodexVersionRange.test.ts keeps
 * PINNED equal to package.json).
 */

export const OLDEST_TESTED_CODEX = "0.135.0"
export const PINNED_CODEX = "0.171.0"

/** [major, minor, patch] of "0.171.0", "codex-cli 0.171.0" or "0.171.0-alpha.2"; undefined when there is none. */
export const parseCodexVersion = (text: string): readonly [number, number, number] | undefined => {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text)
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined
}

/** Negative, zero or positive as `a` is older than, the same as or newer than `b` (both parsed). */
export const compareCodexVersions = (a: readonly [number, number, number], b: readonly [number, number, number]): number =>
  a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

export type CodexVersionVerdict =
  | { readonly kind: "inside"; readonly version: string; readonly message: string }
  | { readonly kind: "newer"; readonly version: string; readonly message: string }
  | { readonly kind: "older"; readonly version: string; readonly message: string; readonly fix: string }
  | { readonly kind: "unknown"; readonly version: string; readonly message: string }

const RANGE = `${OLDEST_TESTED_CODEX} … ${PINNED_CODEX}`

/**
 * Where a codex version (as `codex --version` prints it) stands against the tested range.
 * Newer is a warning (probably fine, untested: `npm run compat -- <version>` tests it); older
 * is a warning too, with the upgrade as its fix (known differences the plugin does not handle).
 */
export const codexVersionVerdict = (versionText: string): CodexVersionVerdict => {
  const text = versionText.trim()
  const parsed = parseCodexVersion(text)
  if (parsed === undefined) {
    return { kind: "unknown", version: text, message: `cannot read a version from "${text}"; tested range ${RANGE}` }
  }
  const version = parsed.join(".")
  if (compareCodexVersions(parsed, parseCodexVersion(OLDEST_TESTED_CODEX)!) < 0) {
    return {
      kind: "older",
      version,
      message: `codex ${version} is older than the tested range ${RANGE}`,
      fix: `upgrade codex: npm install -g @openai/codex@${PINNED_CODEX} (or any version in ${RANGE})`
    }
  }
  if (compareCodexVersions(parsed, parseCodexVersion(PINNED_CODEX)!) > 0) {
    return {
      kind: "newer",
      version,
      message: `codex ${version} is newer than the tested range ${RANGE}; test it with \`npm run compat -- ${version}\` in this plugin's checkout`
    }
  }
  return { kind: "inside", version, message: `codex ${version} is inside the tested range ${RANGE}` }
}
