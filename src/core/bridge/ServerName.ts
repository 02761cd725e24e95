/**
 * The stable MCP server name of an agent's host tools (PROTOCOL.md §7):
 * `plexum-host-<id>`, only `[A-Za-z0-9_-]`, at most 64 characters, and distinct
 * agent ids always give distinct names.
 */
import { createHash } from "node:crypto"

export const SERVER_NAME_PREFIX = "plexum-host-"
export const SERVER_NAME_MAX = 64
const HASH_CHARS = 12
const CLEAN_ID = /^[A-Za-z0-9_-]+$/
// Every hashed name ends like this and no verbatim name may, which keeps the two kinds apart.
const HASHED_TAIL = new RegExp(`-[0-9a-f]{${HASH_CHARS}}$`)

/** A short hex digest of the whole string: what keeps shortened names distinct. */
export const shortHash = (text: string, chars: number): string =>
  createHash("sha256").update(text, "utf8").digest("hex").slice(0, chars)

/**
 * A clean, short id is used verbatim (readable in config.toml and in the model's
 * namespace). Anything that had to change — characters replaced, length cut, or a
 * verbatim name that would look like a hashed one — becomes a readable prefix plus a
 * hash of the full id.
 */
export const serverNameFor = (agentId: string): string => {
  const verbatim = SERVER_NAME_PREFIX + agentId
  if (CLEAN_ID.test(agentId) && verbatim.length <= SERVER_NAME_MAX && !HASHED_TAIL.test(verbatim)) return verbatim
  const room = SERVER_NAME_MAX - SERVER_NAME_PREFIX.length - 1 - HASH_CHARS
  const readable = agentId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, room)
  return `${SERVER_NAME_PREFIX}${readable}-${shortHash(agentId, HASH_CHARS)}`
}

