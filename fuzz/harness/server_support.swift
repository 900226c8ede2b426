// Shared by the server-side Swift harnesses (json, multipart, base64), compiled into each of them by build.sh.

/// The limits the shipped engine reports (`ModelEngine`: `GenerationOptions.maxImages` and `.maxBeam`); the
/// request parsers check `n` and `beam_size` against the served engine's limits.
let fuzzLimits = GenerationLimits(maxImages: 8, maxBeamSize: 8)
