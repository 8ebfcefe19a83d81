import Foundation
import Testing

/// A site's own tasks in `/etc/sanitize-clone/tasks.d/*.task`: listed by a dry run, run chrooted
/// only with `--allow-exec` under `--root`, their `Backup=` paths restored by rollback, and a
/// failing one rolls the whole run back.
@Suite("Drop-in tasks", .requiresFileOwnership)
struct DropInTaskTests {
    static let busybox = "/bin/busybox"

    /// A Debian template with a static busybox as its shell and a Zabbix agent configuration.
    static func template(exec: String = #"sed -i "s/^Hostname=.*/Hostname=$SANITIZE_HOSTNAME/" /etc/zabbix/zabbix_agentd.conf"#,
                         extra: String = "") throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        try root.makeDirectory("/bin")
        try FileManager.default.copyItem(atPath: busybox, toPath: root.hostPath("/bin/busybox"))
        for tool in ["sh", "sed", "printf", "env", "cat"] { try root.symlink("/bin/\(tool)", to: "busybox") }
        try root.write("/etc/zabbix/zabbix_agentd.conf", "Server=zabbix.example.com\nHostname=golden\n")
        try root.write("/etc/sanitize-clone/tasks.d/zabbix-agent-hostname.task", """
            [Task]
            Description=Make the Zabbix agent report under the clone's hostname
            After=hostname
            Backup=/etc/zabbix/zabbix_agentd.conf
            Exec=\(exec)
            \(extra)
            """)
        return root
    }

    @Test("a dry run lists a drop-in with its command and backups without running it")
    func dryRunListsIt() throws {
        try #require(FileManager.default.fileExists(atPath: Self.busybox), "busybox-static is installed by make deps")
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let plan = try InProcess.json(["plan", "--root", root.path, "--allow-exec", "--json", "--hostname", "web-01"])
        #expect(plan.status(of: "zabbix-agent-hostname") == "planned", "\(plan)")
        let changes = plan.task("zabbix-agent-hostname")?["changes"]?.array ?? []
        #expect(changes.contains { $0["action"]?.string == "exec" && $0["new"]?.string?.contains("sed -i") == true }, "\(changes)")
        #expect(changes.contains { $0["action"]?.string == "backup" && $0["path"]?.string == "/etc/zabbix/zabbix_agentd.conf" })
        try expectUnchanged(root, since: before, "plan")
    }

    @Test("under --root it runs only with --allow-exec, chrooted, with the new identity in its environment")
    func runsChrootedWithAllowExec() throws {
        let root = try Self.template(exec: #"printf '%s %s %s\n' "$SANITIZE_HOSTNAME" "$SANITIZE_MACHINE_ID" "$SANITIZE_ROOT" > /etc/zabbix/seen"#,
                                     extra: "Backup=/etc/zabbix/seen")
        defer { root.remove() }
        let without = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        #expect(without.status(of: "zabbix-agent-hostname") == "skipped", "\(without)")
        #expect(without.task("zabbix-agent-hostname")?["reason"]?.string?.contains("--allow-exec") == true)
        #expect(!root.exists("/etc/zabbix/seen"))

        let with = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-02", "--allow-exec"])
        #expect(with.status(of: "zabbix-agent-hostname") == "applied", "\(with)")
        let seen = root.read("/etc/zabbix/seen")?.split(separator: " ").map(String.init) ?? []
        #expect(seen.count == 3 && seen[0] == "web-02" && seen[1] == root.read("/etc/machine-id")?.trimmingCharacters(in: .newlines)
                && seen[2] == "/\n", "the command ran inside the root and saw the new identity: \(seen)")
    }

    @Test("rollback restores its Backup= paths; a failing drop-in rolls the whole run back")
    func backupAndFailure() throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let run = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01", "--allow-exec"])
        #expect(run["result"]?.string == "committed", "\(run)")
        #expect(root.read("/etc/zabbix/zabbix_agentd.conf") == "Server=zabbix.example.com\nHostname=web-01\n")
        let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"])
        #expect(rollback.exitCode == 0, "\(rollback)")
        try expectUnchanged(root, since: before, "run + rollback")

        let failing = try Self.template(exec: "sed -i s/golden/x/ /etc/zabbix/zabbix_agentd.conf && exit 3")
        defer { failing.remove() }
        let failingBefore = try failing.signature()
        let failedRun = try InProcess.run(["run", "--root", failing.path, "--json", "--hostname", "web-01", "--allow-exec"])
        #expect(failedRun.exitCode == 1, "\(failedRun)")
        let failed = try SanitizeClone.requireSingleJSONObject(failedRun)
        #expect(failed["result"]?.string == "rolled-back", "\(failed)")
        #expect(failed.status(of: "zabbix-agent-hostname") == "failed")
        #expect(failed.task("zabbix-agent-hostname")?["error"]?.string?.contains("exited with 3") == true, "\(failed)")
        try expectUnchanged(failing, since: failingBefore, "a failed drop-in")
    }

    @Test("Before= orders a built-in task after the drop-in")
    func beforeOrdersBuiltIns() throws {
        let root = try Self.template(exec: "test ! -e /etc/ssh/ssh_host_ed25519_key.pub.new", extra: "Before=ssh-host-keys")
        defer { root.remove() }
        let run = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01", "--allow-exec"])
        #expect(run["result"]?.string == "committed", "\(run)")
        let names = run["tasks"]?.array?.compactMap { $0["name"]?.string } ?? []
        let dropIn = try #require(names.firstIndex(of: "zabbix-agent-hostname"))
        let keys = try #require(names.firstIndex(of: "ssh-host-keys"))
        #expect(dropIn < keys, "\(names)")
    }

    @Test("a malformed drop-in is refused naming the file, nothing changed", arguments: [
        ("[Task]\nExec=true\nColour=blue\n", "unknown key 'Colour'"),
        ("[Task]\nDescription=no command\n", "no Exec="),
        ("[Task]\nExec=true\nBackup=etc/relative\n", "Backup=etc/relative"),
        ("[Task]\nExec=true\nAfter=no-such-task\n", "no-such-task"),
        ("[Task]\nExec=true\nBefore=no-such-task\n", "no-such-task"),
    ])
    func malformed(_ text: String, _ message: String) throws {
        let root = try Self.template()
        defer { root.remove() }
        try root.write("/etc/sanitize-clone/tasks.d/broken.task", text)
        let before = try root.signature()
        let result = try SanitizeClone.run(["run", "--root", root.path, "--allow-exec"])
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stderr.contains(message), "\(result)")
        try expectUnchanged(root, since: before, "a refused run")
    }
}

@Suite("tasks --root lists drop-ins", .requiresFileOwnership)
struct TasksListingDropInsTests {
    @Test("tasks --root shows the root's drop-ins in graph order, and tasks alone does not")
    func listing() throws {
        let root = try DropInTaskTests.template(extra: "Before=ssh-host-keys")
        defer { root.remove() }
        let withRoot = try SanitizeClone.json(["tasks", "--root", root.path, "--json"])
        let names = withRoot["tasks"]?.array?.compactMap { $0["name"]?.string } ?? []
        let dropIn = try #require(names.firstIndex(of: "zabbix-agent-hostname"), "\(names)")
        #expect(dropIn < (names.firstIndex(of: "ssh-host-keys") ?? -1) && dropIn > (names.firstIndex(of: "hostname") ?? 99), "\(names)")
        let plain = try SanitizeClone.json(["tasks", "--json"])
        #expect(plain["tasks"]?.array?.contains { $0["name"]?.string == "zabbix-agent-hostname" } == false)
        let dot = try SanitizeClone.run(["tasks", "--root", root.path, "--dot"])
        #expect(dot.stdout.contains("\"zabbix-agent-hostname\" -> \"ssh-host-keys\""), "\(dot)")
    }
}
