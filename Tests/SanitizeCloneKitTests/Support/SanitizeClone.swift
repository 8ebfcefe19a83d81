import Foundation
import Testing

/// The `sanitize-clone` binary under test, run as an administrator or the boot service would.
enum SanitizeClone {
    /// The package's root directory (where Package.swift is), derived from this file's path.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        // …/Tests/SanitizeCloneKitTests/Support/SanitizeClone.swift → …
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The binary: `$SANITIZE_CLONE_BINARY`, else the one built beside this test bundle (same
    /// scratch path and configuration), else `.build-tests/debug`, else `.build/debug`.
    static let binary: String = {
        if let explicit = ProcessInfo.processInfo.environment["SANITIZE_CLONE_BINARY"], !explicit.isEmpty {
            return explicit
        }
        var candidates: [String] = []
        if let testExecutable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: testExecutable).deletingLastPathComponent().appendingPathComponent("sanitize-clone").path)
        }
        candidates.append(packageRoot + "/.build-tests/debug/sanitize-clone")
        candidates.append(packageRoot + "/.build/debug/sanitize-clone")
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    /// Runs `sanitize-clone arguments…`. `failpoint` sets SANITIZE_CLONE_FAILPOINT.
    ///
    /// Every invocation is also checked for the one thing no output may ever hold: private key
    /// material ("PRIVATE KEY") on stdout or stderr.
    @discardableResult
    static func run(_ arguments: [String], failpoint: String? = nil, environment: [String: String] = [:],
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandResult {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw FixtureError("no sanitize-clone binary at \(binary): build it first (swift build --scratch-path .build-tests) or set SANITIZE_CLONE_BINARY")
        }
        var variables = environment
        if let failpoint { variables["SANITIZE_CLONE_FAILPOINT"] = failpoint }
        let result = try HostCommand.run(binary, arguments, environment: variables)
        #expect(!result.stdout.contains("PRIVATE KEY"), "private key material on stdout of \(result.command)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("PRIVATE KEY"), "private key material on stderr of \(result.command)", sourceLocation: sourceLocation)
        return result
    }

    /// Runs `sanitize-clone arguments…` that must exit 0 and print one JSON object; returns it.
    @discardableResult
    static func json(_ arguments: [String], failpoint: String? = nil, environment: [String: String] = [:],
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let result = try run(arguments, failpoint: failpoint, environment: environment, sourceLocation: sourceLocation)
        try #require(result.exitCode == 0, "\(result)", sourceLocation: sourceLocation)
        return try requireSingleJSONObject(result, sourceLocation: sourceLocation)
    }

    /// Standard output holds exactly one JSON object on one line; returns it.
    static func requireSingleJSONObject(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "stdout should be one JSON object on one line: \(result)", sourceLocation: sourceLocation)
        let value = try #require(result.json, "stdout is not JSON: \(result)", sourceLocation: sourceLocation)
        try #require(value.object != nil, "stdout is JSON but not an object: \(result)", sourceLocation: sourceLocation)
        return value
    }

    /// The command exited with `code` and, under --json, printed exactly one
    /// `{"result":"error","error":…,"exit_code":code}` object. Returns the error message.
    @discardableResult
    static func expectError(_ result: CommandResult, exitCode code: Int32, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        #expect(result.exitCode == code, "want exit \(code): \(result)", sourceLocation: sourceLocation)
        let object = try requireSingleJSONObject(result, sourceLocation: sourceLocation)
        #expect(object["result"]?.string == "error", "\(object)", sourceLocation: sourceLocation)
        #expect(object["exit_code"]?.int == Int(code), "\(object)", sourceLocation: sourceLocation)
        let message = try #require(object["error"]?.string, "\(object)", sourceLocation: sourceLocation)
        #expect(!message.isEmpty && !message.contains("\n"), "the error is one clear line: \(message)", sourceLocation: sourceLocation)
        return message
    }
}

extension JSONValue {
    /// The report of the task `name` in a run's JSON.
    func task(_ name: String) -> JSONValue? { self["tasks"]?.element(where: "name", is: name) }

    /// The `status` of the task `name`.
    func status(of name: String) -> String? { task(name)?["status"]?.string }

    /// The change to `path` in the report of task `name`.
    func change(_ name: String, path: String) -> JSONValue? { task(name)?["changes"]?.element(where: "path", is: path) }
}
