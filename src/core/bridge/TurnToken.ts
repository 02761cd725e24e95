/**
 * The turn token check of the bridge (PROTOCOL.md §7). Compared in constant time: both sides are
 * hashed to equal-length digests first, so neither the content nor the length of the expected
 * token shows in how long a refusal takes.
 */
import * as Crypto from "node:crypto"

const digest = (s: string) => Crypto.createHash("sha256").update(s, "utf8").digest()

export const tokenMatches = (expected: string, presented: unknown): boolean =>
  typeof presented === "string" && Crypto.timingSafeEqual(digest(expected), digest(presented))
