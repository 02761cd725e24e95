/**
 * codex splits an `--image` value at commas, so a path with a comma reaches it as
 * two wrong paths. Such an image is passed through a comma-free symlink that
 * lives as long as the turn's scope.
 */
import { Cause, Effect, type Scope } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { scopedTempDir } from "../TempDir.ts"

export const commaFreeImagePaths = (
  images: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string>, Cause.UnknownException, Scope.Scope> =>
  images.some((p) => p.includes(","))
    ? Effect.flatMap(scopedTempDir("plexum-images-"), (dir) =>
        Effect.tryPromise(() =>
          Promise.all(
            images.map(async (image, i) => {
              if (!image.includes(",")) return image
              const alias = Path.join(dir, `${i}${Path.extname(image).replace(/,/g, "")}`)
              await Fs.symlink(image, alias)
              return alias
            })
          )
        )
      )
    : Effect.succeed(images)
