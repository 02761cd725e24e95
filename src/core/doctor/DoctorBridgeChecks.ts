/**
 * `doctor`'s lines about what the bridge and the rollout lock rely on (docs/security.md): which
 * system commands the plugin runs and from where (src/core/HelperCommands.ts), and whether the
 * bridge can tell which process connects to it here. That is tried, not guessed: doctor listens on
 * a socket of its own, connects to it, and asks the same question the bridge asks of every peer.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import type { Config } from "../../schemas/Config.ts"
import { HELPER_NAMES, HELPER_PACKAGE, type HelperName, resolveHelper, SYSTEM_COMMAND_DIRS } from "../HelperCommands.ts"
import { peerAncestry, type PeerAncestry } from "../bridge/PeerProcess.ts"
import { makeTempSocketDir } from "../bridge/SocketPath.ts"
import { check, type CheckResult } from "./DoctorCheck.ts"

const NEEDED_FOR: Record<HelperName, string> = {
  ss: "the bridge's check of which process connects",
  flock: "session/mutate holding codex's writer lock of a thread (codex 0.151 and later)",
  perl: "starting codex without forking the plugin (src/core/ForkServer.ts)"
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

/** Connects to a listener of this process and asks who is on the other end: this process, if the check works. */
export const selfPeerCheck: Effect.Effect<PeerAncestry> = Effect.acquireUseRelease(
  Effect.sync(() => makeTempSocketDir()),
  (dir) =>
    Effect.promise(async (): Promise<PeerAncestry> => {
      const path = Path.join(dir, "doctor.sock")
      const server = Net.createServer()
      const accepted = new Promise<Net.Socket>((resolve) => server.once("connection", resolve))
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject)
        server.listen(path, () => resolve())
      })
      const client = Net.connect(path)
      client.on("error", () => {})
      const socket = await accepted
      try {
        return await peerAncestry(socket, process.pid, path)
      } finally {
        socket.destroy()
        client.destroy()
        await new Promise((resolve) => server.close(resolve))
      }
    }),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

export const checkBridgePeer = (config: Pick<Config, "bridge_peer_check">, probe: Effect.Effect<PeerAncestry> = selfPeerCheck): Effect.Effect<CheckResult> => {
  if (!config.bridge_peer_check) {
    return Effect.succeed(
      check(
        "bridge peer check",
        "warn",
        "off (config bridge_peer_check: false): the bridge serves any process that presents a running turn's token",
        "set \"bridge_peer_check\": true where /proc and `ss` (iproute2) are available (docs/security.md)"
      )
    )
  }
  return Effect.map(probe, (found) =>
    found.kind === "descends"
      ? check("bridge peer check", "ok", "the bridge can tell which process connects to it (/proc and ss)")
      : check(
          "bridge peer check",
          "fail",
          `the bridge cannot tell which process connects to it here (${found.kind === "unknown" ? found.reason : "it did not recognise this very process"}): every host tool call will be refused`,
          "install iproute2 (ss) on a system with /proc, or set \"bridge_peer_check\": false in config.json to trust the turn token alone (docs/security.md)"
        )
  )
}
