#!/usr/bin/env bash
# Builds the libFuzzer harnesses into $FUZZ_BUILD (default .build-fuzz) from a fresh clone:
# the C harness with the toolchain's clang, the Swift ones with swiftc compiling the project's own source
# files (the exact files the server runs) together with the harness into one module.
# Usage: fuzz/build.sh [target ...]   (default: all targets)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${FUZZ_BUILD:-.build-fuzz}
SWIFT_BIN=$(dirname "$(command -v swiftc)")
CLANG=${CLANG:-$SWIFT_BIN/clang}
mkdir -p "$OUT"

M=Sources/MirrorGAN
S=Sources/MirrorGANServer
SERVER_BODY=($S/Engine/InferenceEngine.swift $S/HTTP/APIError.swift $S/HTTP/HTTPMessage.swift $S/HTTP/JSONFields.swift $S/HTTP/JSONParser.swift
             $S/HTTP/JSONWriter.swift $S/HTTP/Multipart.swift $S/Routing/CaptionRequest.swift
             $S/Routing/GenerationRequest.swift $S/Routing/ChatCompletionRequest.swift)

# Swift: -O keeps Swift's own checks (overflow, bounds: a trap is a finding); the project's release build uses
# -Ounchecked for the runtime, which would hide them. ASan instruments the code (swiftc has no UBSan on
# Linux; Swift's own checks cover its arithmetic), libFuzzer drives it.
SWIFT_FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -module-name MirrorGANFuzz -swift-version 5 -use-ld=lld)

build_swift() {  # name, sources...
  local name=$1; shift
  echo "building fuzz_$name"
  swiftc "${SWIFT_FLAGS[@]}" fuzz/harness/fuzz_$name.swift "$@" -o "$OUT/fuzz_$name"
}

build() {
  case $1 in
    png)
      echo "building fuzz_png"
      "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld \
        -I Sources/CPNGShim/include fuzz/harness/fuzz_png.c Sources/CPNGShim/cpng_shim.c \
        $(pkg-config --cflags --libs libpng zlib) -o "$OUT/fuzz_png" ;;
    jpeg)
      echo "building fuzz_jpeg"
      "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld \
        -I Sources/CJPEGShim/include fuzz/harness/fuzz_jpeg.c Sources/CJPEGShim/cjpeg_shim.c \
        $(pkg-config --cflags --libs libjpeg) -o "$OUT/fuzz_jpeg" ;;
    webp)
      echo "building fuzz_webp"
      "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld \
        -I Sources/CWebPShim/include fuzz/harness/fuzz_webp.c Sources/CWebPShim/cwebp_shim.c \
        $(pkg-config --cflags --libs libwebp) -o "$OUT/fuzz_webp" ;;
    tokenizer) build_swift tokenizer $M/Pipeline/Tokenizer.swift ;;
    safetensors) build_swift safetensors $M/IO/SafeTensorsReader.swift $M/IO/ByteSource.swift \
                   $M/IO/SafeTensorsError.swift $M/IO/SafeTensorsDType.swift $M/Tensor/*.swift \
                   $M/Kernels/ParallelFor.swift ;;  # Tensor's arena lives in the thread state of ParallelFor.swift
    json|multipart|base64) build_swift "$1" fuzz/harness/server_support.swift "${SERVER_BODY[@]}" ;;
    *) echo "unknown fuzz target $1" >&2; exit 2 ;;
  esac
}

TARGETS=${*:-png jpeg webp json multipart base64 tokenizer safetensors}
for t in $TARGETS; do build "$t"; done
