import Foundation
import SanitizeCloneKit
import Testing

/// Bad input and unsafe situations: one clear line, the documented exit code, under --json exactly
/// one JSON object on stdout, and a root left as it was.
@Suite("Refusals: clear errors, documented exit codes, unchanged root", .requiresFileOwnership)
struct RefusalTests {
    struct BadConfiguration: Sendable, CustomTestStringConvertible {
        let text: String
        let line: Int
        let words: String
        var testDescription: String { words }

        static let all = [
            BadConfiguration(text: "[Hostname]\nHostname=web-01\nthis is not a setting\n", line: 3, words: "a line that is not Key=Value"),
            BadConfiguration(text: "# site\n[Hostname]\nColour=blue\n", line: 3, words: "an unknown key"),
            BadConfiguration(text: "[Netwerk]\nMAC=random\n", line: 1, words: "an unknown section"),
            BadConfiguration(text: "[Hostname\nHostname=web-01\n", line: 1, words: "a malformed section header"),
            BadConfiguration(text: "Hostname=web-01\n", line: 1, words: "a key before any section"),
            BadConfiguration(text: "[SSH]\n\nRSABits=1024\n", line: 3, words: "RSABits below its minimum of 2048"),
            BadConfiguration(text: "[SSH]\nKeyTypes=rsa dsa\n", line: 2, words: "a key type sanitize-clone cannot create"),
        ]
    }

    @Test("a malformed configuration is exit 2 naming file and line, and the command that checks the fix", arguments: BadConfiguration.all)
    func malformedConfiguration(_ bad: BadConfiguration) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.configure(bad.text)
        let before = try root.signature()
        for dryRun in [true, false] {
            let result = try InProcess.run(["run", "--root", root.path, "--json"] + (dryRun ? ["--dry-run"] : []))
            let message = try SanitizeClone.expectError(result, exitCode: 2)
            #expect(message.contains("/etc/sanitize-clone/sanitize-clone.conf:\(bad.line)"), "\(message)")
            #expect(message.hasSuffix("then check with 'sanitize-clone cat-config'"), "the next command: \(message)")
        }
        try expectUnchanged(root, since: before, "a refused run")
        #expect(root.runIDs().isEmpty)
    }

    @Test("an error in a conf.d drop-in names the drop-in; --config names the host file given")
    func dropInAndExplicitConfiguration() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/sanitize-clone/conf.d/20-site.conf", "[Hostname]\nPrefix=web\nColour=blue\n")
        let dropIn = try SanitizeClone.expectError(try InProcess.run(["plan", "--root", root.path, "--json"]), exitCode: 2)
        #expect(dropIn.contains("/etc/sanitize-clone/conf.d/20-site.conf:3"), "\(dropIn)")

        try root.delete("/etc/sanitize-clone/conf.d/20-site.conf")
        let explicit = root.scratch + "/site.conf"
        try "[Hostname]\nHostname=bad_name!\n".write(toFile: explicit, atomically: false, encoding: .utf8)
        let message = try SanitizeClone.expectError(
            try InProcess.run(["plan", "--root", root.path, "--json", "--config", explicit]), exitCode: 2)
        #expect(message.contains("\(explicit):2"), "\(message)")
        let missing = try SanitizeClone.expectError(
            try InProcess.run(["plan", "--root", root.path, "--json", "--config", root.scratch + "/nope.conf"]), exitCode: 2)
        #expect(missing.contains("nope.conf"), "\(missing)")
    }

    /// A PATH holding links to every program of /usr/bin and /usr/sbin except `missing`.
    static func path(without missing: String, in root: FixtureRoot) throws -> String {
        let directory = root.scratch + "/bin-without-\(missing)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for source in ["/usr/bin", "/usr/sbin"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: source) where name != missing {
                let link = directory + "/" + name
                if lstatOf(link) == nil { try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: source + "/" + name) }
            }
        }
        return directory
    }

    @Test("a missing host tool is exit 2 before any change, naming the tool", arguments: ["ssh-keygen", "dbus-uuidgen"])
    func missingTool(_ tool: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let path = try Self.path(without: tool, in: root)
        let result = try SanitizeClone.run(["run", "--root", root.path, "--json"], environment: ["PATH": path])
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains(tool), "\(message)")
        try expectUnchanged(root, since: before, "a refused run")
        #expect(root.runIDs().isEmpty)
    }

    @Test("an immutable file to change (chattr +i) is exit 2 before any change, naming it", .requiresRoot,
          arguments: ["/etc/hostname", "/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key"])
    func immutableTarget(_ path: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try HostCommand.succeed("chattr", ["+i", root.hostPath(path)])
        defer { _ = try? HostCommand.run("chattr", ["-i", root.hostPath(path)]) }
        let before = try root.signature()

        let result = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains(path), "\(message)")
        try expectUnchanged(root, since: before, "a refused run")
    }

    @Test("a read-only root (bind mount) is exit 2 before any change")
    func readOnlyMount() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        // The state directory must exist first: it cannot be created on a read-only root either.
        let before = try root.signature()
        let script = #"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" run --root "$1" --json --hostname web-01"#
        let result = try HostCommand.run("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", root.path, SanitizeClone.binary])
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.lowercased().contains("read-only"), "\(message)")
        try expectUnchanged(root, since: before, "a refused run")
    }

    @Test("a journal record that fails its checksum stops the next run with exit 4; the root is not touched")
    func corruptJournal() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let id = try CrashRecoveryTests.crash(root, at: "hostname:after-apply:crash")
        let journal = root.journalPath(of: id)
        var bytes = try #require(FileManager.default.contents(atPath: journal).map(Array.init))
        let marker = Array("\"kind\":\"undo\"".utf8)
        let record = try #require(bytes.indices.first { Array(bytes[$0...].prefix(marker.count)) == marker })
        bytes[record + marker.count - 3] ^= 0x01   // one bit of the first undo record
        try Data(bytes).write(to: URL(fileURLWithPath: journal))
        let crashed = try root.signature()

        let result = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-02"])
        let message = try SanitizeClone.expectError(result, exitCode: 4)
        #expect(message.contains("corrupt"), "\(message)")
        #expect(message.contains(id), "the message names the run's journal: \(message)")
        try expectUnchanged(root, since: crashed, "a run stopped by a corrupt journal")

        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["runs"]?.element(where: "run_id", is: id)?["outcome"]?.string == "corrupt", "\(status)")
        #expect(status["recovery_pending"]?.bool == true)
        let rollback = try InProcess.run(["rollback", "--root", root.path, id, "--json"])
        #expect(rollback.exitCode == 4, "rollback refuses to follow it too: \(rollback)")
        try expectUnchanged(root, since: crashed, "a refused rollback")
    }

    /// Rewrites the first undo record of `id`'s journal with `transform` applied to its JSON,
    /// tagged with this machine's key: what only this machine could write, so the validation of
    /// every undo action is what must catch it.
    static func tamper(_ root: FixtureRoot, run id: String, _ transform: (String) -> String) throws {
        let journal = root.journalPath(of: id)
        var lines = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let index = try #require(lines.firstIndex { $0.contains("\"kind\":\"undo\"") })
        let json = transform(String(lines[index].drop { $0 != " " }.dropFirst()))
        lines[index] = try JournalTags.line(json, run: id, of: root)
        try lines.joined(separator: "\n").write(toFile: journal, atomically: false, encoding: .utf8)
    }

    @Test("a journal record naming a path with .. or a relative path stops recovery with exit 4",
          arguments: ["/etc/../../../etc/shadow", "etc/shadow"])
    func journalPathOutsideTheRoot(_ path: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let id = try CrashRecoveryTests.crash(root, at: "hostname:after-apply:crash")
        try Self.tamper(root, run: id) { $0.replacingOccurrences(of: "\"path\":\"/etc/machine-id\"", with: "\"path\":\"\(path)\"") }
        try #require(try String(contentsOfFile: root.journalPath(of: id), encoding: .utf8).contains(path))
        let crashed = try root.signature()

        let result = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-02"])
        let message = try SanitizeClone.expectError(result, exitCode: 4)
        #expect(message.contains("outside the root") && message.contains(path), "\(message)")
        try expectUnchanged(root, since: crashed, "a run stopped by a tampered journal")
    }

    @Test("another run holding the lock is exit 5 with {\"result\":\"error\",\"exit_code\":5}")
    func lockHeld() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try InProcess.json(["run", "--root", root.path, "--json", "--only", "hostname"])
        let lockPath = root.hostPath("/var/lib/sanitize-clone/lock")
        let descriptor = open(lockPath, O_RDWR | O_CREAT, 0o600)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(flock(descriptor, LOCK_EX | LOCK_NB) == 0, "the test holds the lock")
        let before = try root.signature()

        for command in [["run"], ["rollback", "--last"], ["prune"]] {
            let result = try SanitizeClone.run(command + ["--root", root.path, "--json"])
            let message = try SanitizeClone.expectError(result, exitCode: 5)
            #expect(message.contains("lock"), "\(message)")
        }
        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["run_in_progress"]?.bool == true, "\(status)")
        let plan = try InProcess.run(["plan", "--root", root.path, "--json"])
        #expect(plan.exitCode == 0, "a dry run takes no lock: \(plan)")
        try expectUnchanged(root, since: before, "runs refused by the lock")
    }

    static let errorInvocations: [[String]] = [
        ["run", "--no-such-option"],
        ["run", "--root", "/nonexistent/sanitize-clone-root"],
        ["run", "--only", "no-such-task"],
        ["run", "--skip", "machine-id,no-such-task"],
        ["run", "--hostname", "bad_name!"],
        ["plan", "--hostname", "-bad"],
        ["rollback"],
        ["rollback", "--last", "20990101T000000-abcdef"],
        ["rollback", "20990101T000000-abcdef"],
        ["status", "--root", "/nonexistent/sanitize-clone-root"],
        ["plan", "--image", "/nonexistent/sanitize-clone-disk.raw"],
        ["plan", "--nic", "ens3"],
        ["frobnicate"],
    ]

    @Test("any usage or input error: one JSON object on stdout under --json, else one line on stderr naming the next command; exit 2",
          arguments: errorInvocations)
    func jsonErrors(_ arguments: [String]) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let rooted = arguments.contains("--root") || arguments == ["frobnicate"] ? arguments : arguments + ["--root", root.path]
        let result = try SanitizeClone.run(rooted + ["--json"])
        try SanitizeClone.expectError(result, exitCode: 2)
        let plain = try SanitizeClone.run(rooted)
        #expect(plain.exitCode == 2 && plain.stdout.isEmpty, "without --json the error goes to stderr: \(plain)")
        let lines = plain.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("sanitize-clone: error: "), "one line on stderr: \(plain)")
        // It tells the administrator what to run next, quoted so it can be copied.
        #expect(plain.stderr.contains("'sanitize-clone "), "the error names the next command: \(plain.stderr)")
        try expectUnchanged(root, since: before, "refused commands")
    }

    @Test("a malformed SANITIZE_CLONE_FAILPOINT is a usage error", arguments: ["hostname:explode:crash", "hostname:change-1", "hostname:change-0:error"])
    func malformedFailpoint(_ failpoint: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let result = try InProcess.run(["run", "--root", root.path, "--json"], failpoint: failpoint)
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains("SANITIZE_CLONE_FAILPOINT"), "\(message)")
        try expectUnchanged(root, since: before, "a refused run")
    }
}
