/**
 * The mark every codex the plugin starts carries in its environment, and with it everything codex
 * starts that keeps its environment: the shell snapshot it runs in a session of its own, and what
 * that shell starts (CODEX.md, "Processes codex starts outside its own group"). Such a process is in
 * no group the plugin ends and, once codex is gone, no longer descends from it; the mark is how it
 * is found when the run ends, and after a SIGKILLed plugin by the next start (ProcessGroups).
 * codex keeps the variable for its commands: its default shell environment policy drops only names
 * with KEY, SECRET or TOKEN in them.
 */
import * as Crypto from "node:crypto"

export const ENV_RUN_MARK = "PLEXUM_CODEX_RUN"

/** A fresh mark: unguessable, so no other run's processes (or anyone else's) can carry it by chance. */
export const newRunMark = (): string => Crypto.randomBytes(12).toString("hex")
