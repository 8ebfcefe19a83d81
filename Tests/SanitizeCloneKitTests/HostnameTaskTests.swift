import Testing

/// `hostname`: /etc/hostname, /etc/hosts (whole tokens only) and PRETTY_HOSTNAME, from
/// --hostname, else configuration, else a name derived from the new machine-id.
@Suite("hostname task", .requiresFileOwnership)
struct HostnameTaskTests {
    @Test("--hostname wins over [Hostname] Hostname= in the configuration")
    func commandLineWins() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.configure("[Hostname]\nHostname=from-config\n")
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(root.read("/etc/hostname") == "web-01\n")
    }

    @Test("[Hostname] Hostname= from the configuration is used when no --hostname is given")
    func configurationNamesTheHost() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.configure("# the site's choice\n[Hostname]\nHostname=from-config\n")
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--json"])
        #expect(root.read("/etc/hostname") == "from-config\n")
    }

    @Test("a drop-in in conf.d overrides the main configuration file")
    func dropInOverridesMainFile() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.configure("[Hostname]\nHostname=from-config\n")
        try root.write("/etc/sanitize-clone/conf.d/50-site.conf", "[Hostname]\nHostname=from-drop-in\n")
        let plan = try InProcess.json(["plan", "--root", root.path, "--only", "hostname", "--json"])
        #expect(plan.change("hostname", path: "/etc/hostname")?["new"]?.string == "from-drop-in")
    }

    @Test("with no name given, each clone is named clone-<first 8 hex digits of its new machine-id>", arguments: FixtureRoot.Kind.allCases)
    func derivesTheNameFromTheNewMachineID(_ kind: FixtureRoot.Kind) throws {
        let root = try kind.make()
        defer { root.remove() }
        try InProcess.json(["run", "--root", root.path, "--json"])
        let machineID = try #require(root.read("/etc/machine-id"))
        #expect(machineID != FixtureRoot.templateMachineID + "\n")
        let expected = "clone-" + machineID.prefix(8)
        // Debian keeps the short name; Fedora's /etc/hostname keeps its FQDN style.
        #expect(root.read("/etc/hostname") == (kind == .debian ? "\(expected)\n" : "\(expected).example.com\n"))
    }

    @Test("[Hostname] Prefix= changes the derived name's prefix")
    func prefixFromConfiguration() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.configure("[Hostname]\nPrefix=web\n")
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--json"])
        // machine-id did not run: the name comes from the template's id.
        #expect(root.read("/etc/hostname") == "web-\(FixtureRoot.templateMachineID.prefix(8))\n")
    }

    static let invalidNames = [
        "bad_name!", "-web", "web-", "web..example.com", ".web", "",
        String(repeating: "a", count: 64),                                 // a label over 63 characters
        String(repeating: "a", count: 40) + "." + String(repeating: "b", count: 24),  // 65 characters in all
    ]

    @Test("an invalid name is refused with exit 2 and leaves the root unchanged", arguments: invalidNames)
    func rejectsInvalidNames(_ name: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let result = try InProcess.run(["run", "--root", root.path, "--hostname=\(name)", "--json"])
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.lowercased().contains("hostname"), "the message names the problem: \(message)")
        try expectUnchanged(root, since: before, "a refused run")
        #expect(root.runIDs().isEmpty, "no run was journaled")
    }

    @Test("an invalid [Hostname] Hostname= is a configuration error naming file and line")
    func rejectsInvalidConfiguredName() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.configure("[Hostname]\n\nHostname=bad_name!\n")
        let before = try root.signature()
        let message = try SanitizeClone.expectError(try InProcess.run(["run", "--root", root.path, "--json"]), exitCode: 2)
        #expect(message.contains("/etc/sanitize-clone/sanitize-clone.conf:3"), "\(message)")
        try expectUnchanged(root, since: before, "a refused run")
    }

    @Test("/etc/hosts: the old name and FQDN are replaced as whole tokens; golden-backup and comments stay (Debian)")
    func rewritesHostsByWholeTokens() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(root.read("/etc/hostname") == "web-01\n")
        #expect(root.read("/etc/hosts") == """
            127.0.0.1\tlocalhost
            127.0.1.1\tweb-01.example.com web-01
            192.0.2.20\tgolden-backup.example.com golden-backup  # the template's backup twin
            # golden is the template; this comment stays as it is

            # The following lines are desirable for IPv6 capable hosts
            ::1     localhost ip6-localhost ip6-loopback
            ff02::1 ip6-allnodes

            """)
    }

    @Test("/etc/hosts: other lines naming the old host are renamed too, case-insensitively")
    func renamesEveryLineNamingTheOldHost() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 golden.example.com golden\n10.0.0.5 GOLDEN.example.com Golden goldenrod # golden\n")
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(root.read("/etc/hosts") == "127.0.0.1 localhost\n127.0.1.1\tweb-01.example.com web-01\n10.0.0.5 web-01.example.com web-01 goldenrod # golden\n")
    }

    @Test("/etc/hosts: a missing 127.0.1.1 line is added after 127.0.0.1, with the FQDN first (Fedora)")
    func addsTheLoopbackLine() throws {
        let root = try FixtureRoot.fedoraLike()
        defer { root.remove() }
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(root.read("/etc/hostname") == "web-01.example.com\n", "Fedora's FQDN style is kept")
        #expect(root.read("/etc/hosts") == """
            127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4
            127.0.1.1\tweb-01.example.com web-01
            ::1         localhost localhost.localdomain localhost6 localhost6.localdomain6

            """)
    }

    @Test("/etc/hosts: the 127.0.1.1 line has no domain when the old one had none")
    func shortLoopbackLine() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tgolden\n")
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(root.read("/etc/hosts") == "127.0.0.1\tlocalhost\n127.0.1.1\tweb-01\n")
    }

    @Test("PRETTY_HOSTNAME in /etc/machine-info is updated; other keys stay (Fedora)")
    func updatesPrettyHostname() throws {
        let root = try FixtureRoot.fedoraLike()
        defer { root.remove() }
        let report = try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(root.read("/etc/machine-info") == "PRETTY_HOSTNAME=\"web-01.example.com\"\nDEPLOYMENT=production\n")
        #expect(report.change("hostname", path: "/etc/machine-info")?["old"]?.string == "Golden Template")
    }

    @Test("keeps the owner, group and mode of the files it rewrites")
    func keepsAttributes() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.setAttributes("/etc/hostname", mode: 0o640, owner: 0, group: 4)
        try root.setAttributes("/etc/hosts", mode: 0o664, owner: 0, group: 10)
        try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(root.mode("/etc/hostname") == 0o640 && root.ownership("/etc/hostname") == "0:4")
        #expect(root.mode("/etc/hosts") == 0o664 && root.ownership("/etc/hosts") == "0:10")
    }

    @Test("--only hostname runs no other task, and a second run with the same name changes nothing")
    func onlyHostnameIsIdempotent() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let report = try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(report["tasks"]?.array?.count == 1)
        #expect(root.read("/etc/machine-id") == FixtureRoot.templateMachineID + "\n")
        let afterFirst = try root.signature()
        let again = try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--hostname", "web-01", "--json"])
        #expect(again.status(of: "hostname") == "skipped")
        #expect(again.task("hostname")?["reason"]?.string?.isEmpty == false)
        try expectUnchanged(root, since: afterFirst, "a second run with the same name")
    }
}
