import Testing

/// `verify` proves that the clone's network configuration names only NICs the clone has: a
/// netplan or networkd file still bound to the template's MAC leaves the NIC unconfigured.
@Suite("verify checks the network configuration's MACs", .requiresFileOwnership)
struct VerifyNetworkConfigTests {
    static func sanitizedClone() throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        let record = try SanitizeClone.run(["run", "--auto", "--root", root.path, "--product-uuid", "11111111-2222-3333-4444-555555555555"])
        try #require(record.exitCode == 0, "\(record)")
        let run = try SanitizeClone.run(["run", "--auto", "--root", root.path, "--product-uuid", "99999999-2222-3333-4444-555555555555"])
        try #require(run.exitCode == 0, "\(run)")
        return root
    }

    @Test("configuration naming the clone's NICs passes; one naming the template's MAC fails, naming the file")
    func macsMustBePresent() throws {
        let root = try Self.sanitizedClone()
        defer { root.remove() }
        try root.write("/etc/netplan/50-cloud-init.yaml", """
            # the template's address 52:54:00:aa:aa:aa is in a comment: ignored
            network:
              ethernets:
                uplink:
                  match:
                    macaddress: "52:54:00:12:34:56"
                  dhcp4: true
            """)
        let good = try SanitizeClone.json(["verify", "--root", root.path, "--json", "--nic", "ens3=52:54:00:12:34:56"])
        #expect(good["result"]?.string == "verified", "\(good)")
        let checks = good["checks"]?.array ?? []
        #expect(checks.contains { $0["check"]?.string == "/etc/netplan/50-cloud-init.yaml names only present NICs" }, "\(good)")

        try root.write("/etc/systemd/network/10-uplink.network", "[Match]\nMACAddress=52-54-00-AA-AA-AA\n[Network]\nDHCP=yes\n")
        let bad = try SanitizeClone.run(["verify", "--root", root.path, "--nic", "ens3=52:54:00:12:34:56"])
        #expect(bad.exitCode == 1, "\(bad)")
        #expect(bad.stdout.contains("✘ /etc/systemd/network/10-uplink.network names only present NICs: no NIC has 52:54:00:aa:aa:aa"), "\(bad)")
    }

    @Test("without the machine's NICs (a --root with no --nic) the network configuration is not judged")
    func noNICsNoJudgement() throws {
        let root = try Self.sanitizedClone()
        defer { root.remove() }
        try root.write("/etc/systemd/network/10-uplink.network", "[Match]\nMACAddress=52:54:00:aa:aa:aa\n")
        let result = try SanitizeClone.json(["verify", "--root", root.path, "--json"])
        #expect(result["result"]?.string == "verified", "\(result)")
    }
}
