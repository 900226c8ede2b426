// swift-tools-version:6.0
// mirrorgan: a native MirrorGAN text-to-image-to-text inference server.
// Native libraries come from Debian through pkg-config (see README: `make deps`).
import PackageDescription


let package = Package(
    name: "mirrorgan",
    products: [
        .library(name: "MirrorGAN", targets: ["MirrorGAN"]),
        .library(name: "MirrorGANServer", targets: ["MirrorGANServer"]),
        .executable(name: "mirrorgan", targets: ["MirrorGANCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 for the weights MANIFEST check.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // System libraries (module maps over one shim header each).
        .systemLibrary(name: "CMicroHTTPD", path: "Sources/CMicroHTTPD", pkgConfig: "libmicrohttpd",
                       providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CWebP", path: "Sources/CWebP", pkgConfig: "libwebp",
                       providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // C shims: libpng's and libjpeg's setjmp error handling, WebP decoding with the same contract, and the
        // HTTP front end over libmicrohttpd.
        .target(name: "CPNGShim", dependencies: ["CPNG"], path: "Sources/CPNGShim"),
        .target(name: "CJPEGShim", dependencies: ["CJPEG"], path: "Sources/CJPEGShim"),
        .target(name: "CWebPShim", dependencies: ["CWebP"], path: "Sources/CWebPShim"),
        .target(name: "CHTTP", dependencies: ["CMicroHTTPD"], path: "Sources/CHTTP"),
        // Swift model runtime and server.
        .target(name: "MirrorGAN", dependencies: ["COpenBLAS", "CPNGShim", "CJPEGShim", "CWebPShim", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/MirrorGAN",
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // The server knows the model only through its `InferenceEngine` protocol, so routes are testable
        // without weights; the executable plugs the MirrorGAN pipeline in (MirrorGANEngine's ModelEngine).
        .target(name: "MirrorGANServer", dependencies: ["CHTTP"], path: "Sources/MirrorGANServer",
                resources: [.copy("Resources")]),
        // The runtime behind the server's `InferenceEngine` protocol (error mapping, attention maps), a library so
        // that it has unit tests of its own.
        .target(name: "MirrorGANEngine", dependencies: ["MirrorGAN", "MirrorGANServer"], path: "Sources/MirrorGANEngine"),
        // The `mirrorgan` command line (serve, generate, caption, eval, inspect, bench); the product keeps the name.
        .executableTarget(name: "MirrorGANCLI", dependencies: [
            "MirrorGAN", "MirrorGANServer", "MirrorGANEngine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/MirrorGANCLI"),
        .testTarget(name: "MirrorGANTests", dependencies: ["MirrorGAN", "COpenBLAS"], path: "Tests/MirrorGANTests"),
        .testTarget(name: "MirrorGANServerTests", dependencies: ["MirrorGANServer"],
                    path: "Tests/MirrorGANServerTests"),
        .testTarget(name: "MirrorGANEngineTests", dependencies: ["MirrorGANEngine", "MirrorGAN", "MirrorGANServer"],
                    path: "Tests/MirrorGANEngineTests"),
    ],
    swiftLanguageModes: [.v5]
)
