/**
 * `doctor`'s lines about what the bridge and the rollout lock rely on: which system commands the
 * plugin runs and from where (src/core/HelperCommands.ts).
 */
import { HELPER_NAMES, HELPER_PACKAGE, type HelperName, resolveHelper, SYSTEM_COMMAND_DIRS } from "../HelperCommands.ts"
import { check, type CheckResult } from "./DoctorCheck.ts"

const NEEDED_FOR: Record<HelperName, string> = {
  ss: "the bridge's check of which process connects",
  flock: "session/mutate holding codex's writer lock of a thread (codex 0.151 and later)"
}

/** Where each helper was found, or what is missing and what needs it. */
export const checkHelpers = (env: NodeJS.ProcessEnv, resolve: typeof resolveHelper = resolveHelper): CheckResult => {
  const found = HELPER_NAMES.map((name) => [name, resolve(name, env)] as const)
  const missing = found.filter(([, path]) => path === undefined).map(([name]) => name)
  const detail = found.map(([name, path]) => `${name}: ${path ?? "not found"}`).join(", ")
  if (missing.length === 0) return check("helper commands", "ok", `${detail} (absolute PATH entries, then ${SYSTEM_COMMAND_DIRS.join(", ")})`)
  return check(
    "helper commands",
    "warn",
    `${detail}; needed for ${missing.map((name) => NEEDED_FOR[name]).join(" and ")}`,
    `install ${missing.map((name) => `${HELPER_PACKAGE[name]} (${name})`).join(" and ")}; only absolute PATH entries and ${SYSTEM_COMMAND_DIRS.join(", ")} are searched`
  )
}
