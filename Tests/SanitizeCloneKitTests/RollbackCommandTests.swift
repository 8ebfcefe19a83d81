import Testing

/// `rollback`, `status` and `prune`: what an administrator does with runs already journaled.
@Suite("rollback, status, retention and prune", .requiresFileOwnership)
struct RollbackCommandTests {
    @Test("rollback refuses (exit 2, naming the file) when a file the run wrote changed since; --force rolls back anyway")
    func refusesOverLaterChanges() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let original = try root.signature()
        try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        try root.write("/etc/hostname", "edited-by-the-admin\n")
        let edited = try root.signature()

        let refused = try InProcess.run(["rollback", "--root", root.path, "--last", "--json"])
        let message = try SanitizeClone.expectError(refused, exitCode: 2)
        #expect(message.contains("/etc/hostname") && message.contains("--force"), "\(message)")
        try expectUnchanged(root, since: edited, "a refused rollback")

        try InProcess.json(["rollback", "--root", root.path, "--last", "--force", "--json"])
        try expectUnchanged(root, since: original, "rollback --force")
    }

    @Test("rollback --last takes the newest run not yet rolled back")
    func lastSkipsRolledBackRuns() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let original = try root.signature()
        let committed = try #require(try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])["run_id"]?.string)
        let failed = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-02"], failpoint: "hostname:after-apply:error")
        #expect(failed.exitCode == 1, "\(failed)")

        let rollback = try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        #expect(rollback["run_id"]?.string == committed)
        try expectUnchanged(root, since: original, "rollback of the committed run")

        let again = try InProcess.run(["rollback", "--root", root.path, "--last", "--json"])
        try SanitizeClone.expectError(again, exitCode: 2)
        let twice = try InProcess.run(["rollback", "--root", root.path, committed, "--json"])
        #expect(try SanitizeClone.expectError(twice, exitCode: 2).contains("already rolled back"))
    }

    @Test("status lists each run with its outcome and tasks")
    func statusListsRuns() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let empty = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(empty["runs"]?.array?.isEmpty == true && empty["recovery_pending"]?.bool == false, "\(empty)")

        let id = try #require(try InProcess.json(["run", "--root", root.path, "--json", "--only", "hostname,machine-id"])["run_id"]?.string)
        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        let run = try #require(status["runs"]?.element(where: "run_id", is: id))
        #expect(run["outcome"]?.string == "committed")
        #expect(Set(run["tasks"]?.array?.compactMap(\.string) ?? []) == ["machine-id", "hostname"], "\(run)")
        #expect(run["can_roll_back"]?.bool == true)
        #expect(run["mode"]?.string == "manual")
        let text = try SanitizeClone.run(["status", "--root", root.path])
        #expect(text.exitCode == 0 && text.stdout.contains(id) && text.stdout.contains("committed"), "\(text)")
    }

    @Test("after 5 runs only the newest 3 run directories remain; prune removes backups, status still lists the runs")
    func retentionAndPrune() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        var ids: [String] = []
        for number in 1...5 {
            let report = try InProcess.json(["run", "--root", root.path, "--json", "--only", "hostname", "--hostname", "web-0\(number)"])
            ids.append(try #require(report["run_id"]?.string))
        }
        #expect(root.runIDs() == Array(ids.suffix(3)), "backups of the last 3 runs are kept")
        for id in root.runIDs() {
            #expect(root.exists("/var/lib/sanitize-clone/runs/\(id)/backups"))
        }

        let pruned = try InProcess.json(["prune", "--root", root.path, "--json"])
        #expect(Set(pruned["runs"]?.array?.compactMap(\.string) ?? []) == Set(ids.suffix(3)), "\(pruned)")
        for id in root.runIDs() {
            #expect(!root.exists("/var/lib/sanitize-clone/runs/\(id)/backups"), "\(id)'s backups are gone")
        }
        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["runs"]?.array?.compactMap { $0["run_id"]?.string } == Array(ids.suffix(3)))
        #expect(status["runs"]?.array?.allSatisfy { $0["can_roll_back"]?.bool == false } == true, "\(status)")

        let refused = try InProcess.run(["rollback", "--root", root.path, "--last", "--json"])
        #expect(try SanitizeClone.expectError(refused, exitCode: 2).contains("pruned"))
        #expect(root.read("/etc/hostname") == "web-05\n", "a refused rollback changes nothing")
    }

    @Test("[Journal] KeepRuns= sets how many runs keep their journal and backups")
    func keepRunsFromConfiguration() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.configure("[Journal]\nKeepRuns=1\n")
        for number in 1...3 {
            try InProcess.json(["run", "--root", root.path, "--json", "--only", "hostname", "--hostname", "web-0\(number)"])
        }
        #expect(root.runIDs().count == 1)
    }

    @Test("the journal is private and authenticated: 0700 directories, 0600 files, each line '<HMAC of root, run and JSON> <JSON>'")
    func journalIsPrivateAndAuthenticated() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let id = try #require(try InProcess.json(["run", "--root", root.path, "--json"])["run_id"]?.string)
        let runDirectory = "/var/lib/sanitize-clone/runs/\(id)"
        for directory in ["/var/lib/sanitize-clone", "/var/lib/sanitize-clone/runs", runDirectory] {
            #expect(root.mode(directory) == 0o700, "\(directory)")
        }
        let signature = try RootSignature(of: root.hostPath(runDirectory))
        #expect(signature.entries.count > 2, "the run keeps a journal and backups: \(signature)")
        for (path, entry) in signature.entries {
            #expect(entry.type == "file" ? entry.mode == 0o600 : entry.mode == 0o700, "\(runDirectory)\(path): \(entry)")
            #expect(entry.owner == 0 && entry.type != "symlink", "\(path): \(entry)")
        }

        let lines = try #require(root.read(runDirectory + "/journal")).split(separator: "\n")
        #expect(lines.count >= 5)
        for line in lines {
            let json = String(line.drop { $0 != " " }.dropFirst())
            #expect(String(line) == (try JournalTags.line(json, run: id, of: root)), "\(line)")
            #expect(String(line.prefix { $0 != " " }) != (try HostCommand.run("sha256sum", [], stdin: json).stdout.prefix(64)), "not a keyless checksum")
            #expect((try? JSONValue(parsing: json))?["kind"]?.string != nil, "\(line)")
        }
    }
}
