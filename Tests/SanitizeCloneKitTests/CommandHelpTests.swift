import Testing

/// What a new user sees first: `sanitize-clone --help` and each subcommand's own help.
@Suite("Command help")
struct CommandHelpTests {
    /// The subcommands `sanitize-clone --help` lists (so a new one is checked without editing this).
    static func subcommands() throws -> [String] {
        let help = try SanitizeClone.run(["--help"])
        var names: [String] = []
        var inList = false
        for line in help.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("SUBCOMMANDS:") { inList = true; continue }
            guard inList else { continue }
            if line.isEmpty { continue }
            guard line.hasPrefix("  "), !line.hasPrefix("  See ") else { if !line.hasPrefix(" ") { break }; continue }
            let words = line.split(separator: " ")
            // A wrapped description line starts far to the right; a name starts at column 2.
            if line.dropFirst(2).first != " ", let name = words.first { names.append(String(name)) }
        }
        return names
    }

    @Test("the top-level help lists every subcommand, exit codes and an example")
    func topLevel() throws {
        let help = try SanitizeClone.run(["--help"])
        #expect(help.exitCode == 0)
        #expect(help.stdout.contains("Exit codes:") && help.stdout.contains("Example"), "\(help.stdout)")
        #expect(try Self.subcommands() == ["run", "plan", "rollback", "status", "tasks", "prune", "seal", "detect", "verify", "trigger", "cat-config"])
    }

    @Test("every subcommand's help has an example that runs that subcommand")
    func examples() throws {
        for name in try Self.subcommands() {
            let help = try SanitizeClone.run([name, "--help"])
            #expect(help.exitCode == 0, "\(name): \(help)")
            let lines = help.stdout.split(separator: "\n")
            let example = lines.firstIndex { $0.hasPrefix("Example") }
            #expect(example != nil, "\(name) --help has no example:\n\(help.stdout)")
            if let example {
                #expect(lines[(example + 1)...].contains { $0.hasPrefix("  sanitize-clone \(name)") },
                        "\(name)'s example runs it:\n\(help.stdout)")
            }
        }
    }
}
