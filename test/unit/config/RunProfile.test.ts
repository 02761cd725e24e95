// The run's private settings file (src/core/codex/RunProfile.ts): 0600, gone after the run.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { removeStaleRunProfiles, runProfilePath, writeRunProfile } from "../../../src/core/codex/RunProfile.ts"

describe("run profile", () => {
  it.live("is written 0600 under a plain name and removed when the run's scope ends", () =>
    Effect.gen(function* () {
      const home = Fs.mkdtempSync(Path.join(Os.tmpdir(), "run-profile-"))
      const name = yield* Effect.scoped(
        Effect.gen(function* () {
          const name = yield* writeRunProfile(home, 'developer_instructions = "x"\n')
          expect(name).toMatch(/^plexum-run-\d+-[0-9a-f]{16}$/)
          const st = Fs.statSync(runProfilePath(home, name))
          expect(st.mode & 0o777).toBe(0o600)
          expect(Fs.readFileSync(runProfilePath(home, name), "utf8")).toBe('developer_instructions = "x"\n')
          return name
        })
      )
      expect(Fs.existsSync(runProfilePath(home, name))).toBe(false)
      Fs.rmSync(home, { recursive: true })
    })
  )

  it.live("left by a dead plugin process is removed; a live one's and other files are not", () =>
    Effect.gen(function* () {
      const home = Fs.mkdtempSync(Path.join(Os.tmpdir(), "run-profile-"))
      const dead = `plexum-run-999999999-00ff.config.toml`
      const live = `plexum-run-${process.ppid}-00ff.config.toml`
      for (const f of [dead, live, "work.config.toml", "config.toml"]) Fs.writeFileSync(Path.join(home, f), "")
      const removed = yield* Effect.promise(() => removeStaleRunProfiles(home))
      expect(removed).toEqual([dead])
      expect(Fs.readdirSync(home).sort()).toEqual(["config.toml", live, "work.config.toml"].sort())
      Fs.rmSync(home, { recursive: true })
    })
  )
})
