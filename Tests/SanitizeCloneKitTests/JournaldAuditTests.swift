import Foundation
import Testing

/// Every run, task and change is a structured journald entry: a fixed MESSAGE_ID per kind of
/// event, SANITIZE_* fields, PRIORITY, SYSLOG_IDENTIFIER — and never a secret. Checked through a
/// socket the test binds itself at journald's path, in a private mount namespace.
@Suite("Audit in journald", .requiresRoot)
struct JournaldAuditTests {
    enum MessageID {
        static let runStarted = "86346d0fd5d9410a9bc40b8fbbb2eab4"
        static let changeApplied = "8bde2ab7827344e58820ce13339bb63e"
        static let runCommitted = "ac32b14970f74fdb82bdb1d6d5c02cc8"
        static let taskFailed = "95433684aaf745a2a894a7e9b395eca7"
        static let runRolledBack = "27c15325b788433a92e01e1b0e58a5af"
        static let recovery = "a23e61924cb04dc1b0ddf17992a48a92"
    }

    @Test("a run sends run-started, change-applied for each change and run-committed, with their fields; no secret")
    func committedRun() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let oldKeyBodies = SSHHostKeysTaskTests.keys.flatMap { HostKeyFacts.privateKeyBody($0, in: root) }
        let session = try JournalListener.capture([(["run", "--root", root.path, "--json", "--hostname", "web-01"], nil)], in: root.scratch)
        let result = session.results[0]
        try #require(result.exitCode == 0, "\(result)")
        let runID = try #require(result.json?["run_id"]?.string)

        #expect(!session.entries.isEmpty, "the listener received the run's entries")
        for entry in session.entries {
            #expect(entry["SYSLOG_IDENTIFIER"] == "sanitize-clone", "\(entry)")
            #expect(entry["PRIORITY"].flatMap(Int.init).map { (0...7).contains($0) } == true, "\(entry)")
            #expect(entry["MESSAGE"]?.isEmpty == false, "\(entry)")
            #expect(entry["MESSAGE_ID"]?.count == 32, "\(entry)")
            #expect(entry["SANITIZE_RUN_ID"] == runID, "\(entry)")
        }
        #expect(session.entries(withMessageID: MessageID.runStarted).count == 1)
        #expect(session.entries(withMessageID: MessageID.runCommitted).count == 1)

        let changes = session.entries(withMessageID: MessageID.changeApplied)
        let planned = result.json?["tasks"]?.array?.flatMap { $0["changes"]?.array ?? [] } ?? []
        #expect(changes.count == planned.count, "one entry per change: \(changes)")
        let hostname = try #require(changes.first { $0["SANITIZE_PATH"] == "/etc/hostname" })
        #expect(hostname["SANITIZE_TASK"] == "hostname" && hostname["SANITIZE_OLD"] == "golden" && hostname["SANITIZE_NEW"] == "web-01", "\(hostname)")
        let machineID = try #require(changes.first { $0["SANITIZE_PATH"] == "/etc/machine-id" })
        #expect(machineID["SANITIZE_OLD"] == FixtureRoot.templateMachineID && machineID["SANITIZE_NEW"]?.count == 32, "\(machineID)")
        let privateKey = try #require(changes.first { $0["SANITIZE_PATH"] == "/etc/ssh/ssh_host_ed25519_key" })
        #expect(privateKey["SANITIZE_TASK"] == "ssh-host-keys" && privateKey["SANITIZE_NEW"] == "<secret>", "\(privateKey)")

        let newKeyBodies = SSHHostKeysTaskTests.keys.flatMap { HostKeyFacts.privateKeyBody($0, in: root) }
        #expect(!oldKeyBodies.isEmpty && !newKeyBodies.isEmpty)
        for datagram in session.datagrams {
            let text = String(decoding: datagram, as: UTF8.self)
            #expect(!text.contains("PRIVATE KEY"), "\(text)")
            for line in oldKeyBodies + newKeyBodies {
                #expect(!text.contains(line), "a private key's base64 body reached the journal: \(text)")
            }
        }
        #expect(!result.stderr.contains("started on"), "with journald the events go to the journal, not stderr: \(result.stderr)")
    }

    @Test("a failed run sends task-failed (PRIORITY 3) and run-rolled-back; a recovery is announced")
    func failureAndRecovery() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let session = try JournalListener.capture([
            (["run", "--root", root.path, "--json", "--hostname", "web-01"], "hostname:after-apply:error"),
            (["run", "--root", root.path, "--json", "--hostname", "web-02"], "ssh-host-keys:change-1:crash"),
            (["run", "--root", root.path, "--json", "--hostname", "web-03"], nil),
        ], in: root.scratch)
        #expect(session.results.map(\.exitCode) == [1, 128 + SIGKILL, 0], "\(session.results)")
        let failedRun = try #require(session.results[0].json?["run_id"]?.string)

        let failed = session.entries(withMessageID: MessageID.taskFailed)
        #expect(failed.count == 1 && failed.first?["SANITIZE_TASK"] == "hostname" && failed.first?["PRIORITY"] == "3", "\(failed)")
        #expect(session.entries(withMessageID: MessageID.runRolledBack).contains { $0["SANITIZE_RUN_ID"] == failedRun })

        let recovered = try #require(session.results[2].json?["recovered_runs"]?[0]?.string)
        let recovery = session.entries(withMessageID: MessageID.recovery)
        #expect(recovery.contains { $0["SANITIZE_RUN_ID"] == recovered }, "\(recovery)")
        #expect(session.entries(withMessageID: MessageID.runCommitted).count == 1)
    }

    @Test("without journald the same events are readable lines on stderr")
    func stderrWithoutJournald() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let arguments = ["run", "--root", root.path, "--json", "--hostname", "web-01"]
        let result: CommandResult
        if lstatOf(JournalListener.socket) == nil {
            result = try SanitizeClone.run(arguments)
        } else {
            // This host has journald: hide it behind an empty /run.
            let script = "mount -t tmpfs tmpfs /run && exec " + ([SanitizeClone.binary] + arguments).map(JournalListener.quoted).joined(separator: " ")
            result = try HostCommand.run("unshare", ["--mount", "--propagation", "private", "sh", "-c", script])
        }
        try #require(result.exitCode == 0, "\(result)")
        let runID = try #require(result.json?["run_id"]?.string)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.allSatisfy { $0.hasPrefix("sanitize-clone: ") }, "\(result.stderr)")
        #expect(lines.contains { $0.contains(runID) && $0.contains("started") }, "\(result.stderr)")
        #expect(lines.contains { $0.contains("hostname") && $0.contains("/etc/hostname") }, "\(result.stderr)")
        #expect(lines.contains { $0.contains(runID) && $0.contains("committed") }, "\(result.stderr)")
        #expect(!result.stderr.contains("MESSAGE_ID="), "readable lines, not raw fields")
    }
}
