// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "sanitize-clone",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sanitize-clone", targets: ["sanitize-clone"]),
        .library(name: "SanitizeCloneKit", targets: ["SanitizeCloneKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // libsystemd: journal, sd_notify, sd_id128.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // libdbus-1: hostnamed, the systemd manager and NetworkManager over the system bus.
        .systemLibrary(name: "CDBus", pkgConfig: "dbus-1", providers: [.apt(["libdbus-1-dev"])]),
        // Small C shims for syscalls Swift cannot call directly (variadic syscall(2), ioctl).
        .target(name: "CShims"),
        .target(
            name: "SanitizeCloneKit",
            dependencies: [
                "CSystemd", "CDBus", "CShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "sanitize-clone",
            dependencies: [
                "SanitizeCloneKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SanitizeCloneKitTests",
            dependencies: ["SanitizeCloneKit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer harness for every parser of guest files (`make fuzz`, see docs/testing.md). It
// exists only when SANITIZE_CLONE_FUZZ is set, because it links only with `-sanitize=fuzzer`
// (libFuzzer's driver) and reaches internal parsers with `@testable import`: a plain `swift build`,
// `swift build -c release` or `swift test` never sees it.
if Context.environment["SANITIZE_CLONE_FUZZ"] != nil {
    package.targets += [
        // The declaration of libFuzzer's driver (LLVMFuzzerRunDriver).
        .systemLibrary(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"),
        .executableTarget(
            name: "sanitize-clone-fuzz",
            dependencies: ["SanitizeCloneKit", "CLibFuzzer"],
            path: "Fuzz/sanitize-clone-fuzz",
            // No top-level code and no @main: libFuzzer's driver calls LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
}
