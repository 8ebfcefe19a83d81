import Foundation
import Logging
@testable import SanitizeCloneKit
import Testing

/// `network-bindings` and `static-addresses` on a template configured for all six renderers:
/// matched MACs rebound to the clone's NICs, set MACs renewed, connection UUIDs renewed with
/// their references, udev persistent-net rules removed, static addresses replaced — each value
/// edited where it stands, and a rollback that gives back every byte.
@Suite("Network bindings and static addresses", .requiresFileOwnership, .serialized)
struct NetworkBindingsTests {
    static let netplanPath = "/etc/netplan/50-template.yaml"
    static let portPath = "/etc/NetworkManager/system-connections/bond-port-ens4.nmconnection"
    static let bondPath = "/etc/NetworkManager/system-connections/bond0.nmconnection"

    /// `key=value` of a keyfile line, e.g. value(of: "master", in: text).
    static func value(of key: String, in text: String?) -> String? {
        text?.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    @Test("a dry run plans both tasks for every renderer and changes nothing")
    func dryRunChangesNothing() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let before = try root.signature()
        let plan = try InProcess.json(["run", "--root", root.path, "--dry-run", "--json", "--only", "network-bindings,static-addresses"] + NetworkFixture.cloneNICs)
        #expect(plan.status(of: "network-bindings") == "planned", "\(plan)")
        #expect(plan.status(of: "static-addresses") == "planned", "\(plan)")
        let paths = plan.task("network-bindings")?["changes"]?.array?.compactMap { $0["path"]?.string } ?? []
        for path in [Self.netplanPath, Self.portPath, Self.bondPath, "/var/lib/NetworkManager/timestamps", "/etc/systemd/network/10-lan.network",
                     "/etc/systemd/network/10-lan.link", "/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/network/interfaces",
                     "/etc/udev/rules.d/70-persistent-net.rules"] {
            #expect(paths.contains(path), "\(path) is not in the plan: \(paths)")
        }
        try expectUnchanged(root, since: before, "a dry run")
    }

    @Test("the run rebinds every renderer, keeps layout, comments and modes; rollback gives back every byte")
    func runThenRollback() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let before = try root.signature()
        let run = try InProcess.json(["run", "--root", root.path, "--json", "--only", "network-bindings,static-addresses"] + NetworkFixture.cloneNICs)
        #expect(run["result"]?.string == "committed", "\(run)")

        // netplan: the MAC replaced inside its quotes in the file's case; the static address gone
        // (StaticAddressPolicy=dhcp); every comment where it was.
        let netplan = try #require(root.read(Self.netplanPath))
        #expect(netplan.contains("    macaddress: \"52:54:00:BB:00:01\"   # template MAC, upper case, quoted\n"), "\(netplan)")
        #expect(netplan.contains("      macaddress: 52:54:00:bb:00:02       # the second NIC's MAC, set on the bridge\n"), "\(netplan)")
        #expect(netplan.hasPrefix("# Written by the template's installer. Keep the comments!\n"))
        #expect(netplan.contains("lan:                                  # the first NIC\n"))
        #expect(!netplan.contains("192.0.2.10"), "\(netplan)")
        #expect(netplan.contains("dhcp4: true"), "\(netplan)")
        #expect(root.mode(Self.netplanPath) == 0o600)

        // NetworkManager: matched and cloned MAC, new UUIDs, the port still points at its bond.
        let port = root.read(Self.portPath), bond = root.read(Self.bondPath)
        #expect(Self.value(of: "mac-address", in: port) == "52:54:00:BB:00:02")
        #expect(Self.value(of: "cloned-mac-address", in: port) == "52:54:00:BB:00:02")
        let newBondUUID = try #require(Self.value(of: "uuid", in: bond))
        #expect(newBondUUID != NetworkFixture.bondUUID && newBondUUID.count == 36)
        #expect(Self.value(of: "master", in: port) == newBondUUID)
        #expect(Self.value(of: "uuid", in: port) != NetworkFixture.portUUID)
        #expect(root.read("/var/lib/NetworkManager/timestamps")?.contains("\(newBondUUID)=1700000000") == true)
        #expect(root.mode(Self.portPath) == 0o600 && root.mode(Self.bondPath) == 0o600)
        #expect(Self.value(of: "method", in: bond) == "auto", "\(bond ?? "")")

        // networkd: the match follows the NIC; the fixed MAC is a new locally administered one,
        // the same new one wherever the template set the same MAC.
        #expect(root.read("/etc/systemd/network/10-lan.network")?.contains("MACAddress=52:54:00:bb:00:01") == true)
        let link = root.read("/etc/systemd/network/10-lan.link")
        #expect(link?.contains("PermanentMACAddress=52:54:00:bb:00:01") == true)
        let newFixed = try #require(Self.value(of: "MACAddress", in: link))
        #expect(newFixed != NetworkFixture.fixedMAC)
        let firstByte = try #require(UInt8(newFixed.prefix(2), radix: 16))
        #expect(firstByte & 0x02 == 0x02 && firstByte & 0x01 == 0, "\(newFixed) is locally administered unicast")
        let ifcfg = root.read("/etc/sysconfig/network-scripts/ifcfg-eth0")
        #expect(Self.value(of: "MACADDR", in: ifcfg) == newFixed)
        #expect(Self.value(of: "HWADDR", in: ifcfg) == "\"52:54:00:BB:00:01\"")
        #expect(Self.value(of: "UUID", in: ifcfg) != NetworkFixture.ifcfgUUID)
        #expect(Self.value(of: "BOOTPROTO", in: ifcfg) == "dhcp" && Self.value(of: "IPADDR", in: ifcfg) == nil, "\(ifcfg ?? "")")
        #expect(root.read("/etc/systemd/network/10-lan.network")?.contains("DHCP=ipv4") == true)

        // ifupdown and udev.
        let interfaces = root.read("/etc/network/interfaces")
        #expect(interfaces?.contains("    hwaddress ether 52:54:00:bb:00:01\n") == true, "\(interfaces ?? "")")
        #expect(interfaces?.contains("iface ens3 inet dhcp\n") == true && interfaces?.contains("address 192.0.2.10") == false, "\(interfaces ?? "")")
        #expect(!root.exists("/etc/udev/rules.d/70-persistent-net.rules"))

        try expectRollbackRestores(root, since: before)
    }

    @Test("per-clone addresses from the inventory file replace the template's in every renderer")
    func inventoryAddresses() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        try root.write("/etc/sanitize-clone/network-inventory", """
            # <product-uuid or MAC> <interface> <address/prefix>… [gateway=IP] [dns=IP,…]
            52:54:00:bb:00:01 ens3 192.0.2.21/24 gateway=192.0.2.1 dns=192.0.2.54
            52:54:00:bb:00:01 lan 192.0.2.21/24 gateway=192.0.2.1 dns=192.0.2.54
            52:54:00:bb:00:01 bond0 198.51.100.21/24 gateway=198.51.100.1
            52:54:00:bb:00:01 eth0 203.0.113.21/24
            52:54:00:cc:00:09 ens3 192.0.2.99/24
            """ + "\n")
        let run = try InProcess.json(["run", "--root", root.path, "--json", "--only", "network-bindings,static-addresses"] + NetworkFixture.cloneNICs)
        #expect(run["result"]?.string == "committed", "\(run)")
        let netplan = try #require(root.read(Self.netplanPath))
        #expect(netplan.contains("      addresses: [192.0.2.21/24]\n"), "\(netplan)")
        #expect(netplan.contains("addresses: [192.0.2.54]"), "\(netplan)")
        #expect(Self.value(of: "address1", in: root.read(Self.bondPath)) == "198.51.100.21/24,198.51.100.1", "\(root.read(Self.bondPath) ?? "")")
        #expect(Self.value(of: "method", in: root.read(Self.bondPath)) == "manual")
        let ifcfg = root.read("/etc/sysconfig/network-scripts/ifcfg-eth0")
        #expect(Self.value(of: "IPADDR", in: ifcfg) == "203.0.113.21" && Self.value(of: "PREFIX", in: ifcfg) == "24", "\(ifcfg ?? "")")
        let interfaces = root.read("/etc/network/interfaces") ?? ""
        #expect(interfaces.contains("    address 192.0.2.21/24\n") && !interfaces.contains("netmask"), "\(interfaces)")
        let networkd = root.read("/etc/systemd/network/10-lan.network") ?? ""
        // The .network file names no interface: its MAC, rebound to ens3, selects ens3's line.
        #expect(networkd.contains("Address=192.0.2.21/24\nGateway=192.0.2.1\nDNS=192.0.2.54\n"), "\(networkd)")
        #expect(!interfaces.contains("192.0.2.99"))
    }

    @Test("StaticAddressPolicy=keep leaves the addresses with a note; fail stops the run before any change (exit 2)")
    func policies() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        try root.configure("[Network]\nStaticAddressPolicy=keep\n")
        let keep = try InProcess.json(["run", "--root", root.path, "--dry-run", "--json", "--only", "static-addresses"] + NetworkFixture.cloneNICs)
        #expect(keep.status(of: "static-addresses") == "skipped", "\(keep)")
        let notes = keep.task("static-addresses")?["notes"]?.array?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.contains("StaticAddressPolicy=keep") }, "\(notes)")

        try root.configure("[Network]\nStaticAddressPolicy=fail\n")
        let before = try root.signature()
        let failed = try InProcess.run(["run", "--root", root.path, "--json"] + NetworkFixture.cloneNICs)
        let message = try SanitizeClone.expectError(failed, exitCode: 2)
        #expect(message.contains("StaticAddressPolicy=fail") && message.contains("sanitize-clone.network"), "\(message)")
        try expectUnchanged(root, since: before, "a run refused by StaticAddressPolicy=fail")
    }

    @Test("without the clone's NICs a --root run renews connection UUIDs only, and says how to give them")
    func withoutNICList() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "network-bindings"])
        let notes = plan.task("network-bindings")?["notes"]?.array?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.contains("--nic NAME=MAC") }, "\(plan)")
        let paths = plan.task("network-bindings")?["changes"]?.array?.compactMap { $0["path"]?.string } ?? []
        #expect(Set(paths) == [Self.bondPath, Self.portPath, "/var/lib/NetworkManager/timestamps", "/etc/sysconfig/network-scripts/ifcfg-eth0"], "\(paths)")
    }

    @Test("NICs found by position when PCI address and name say nothing; a choice left open is reported, not guessed")
    func positionAndAmbiguity() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let byPosition = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "network-bindings",
                                                 "--nic", "enp1s0=52:54:00:dd:00:01", "--nic", "enp2s0=52:54:00:dd:00:02"])
        let network = byPosition.change("network-bindings", path: "/etc/systemd/network/10-lan.network")
        #expect(network?["new"]?.string?.contains("52:54:00:dd:00:01 (same position)") == true, "\(byPosition)")

        let ambiguous = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "network-bindings",
                                                "--nic", "enp1s0=52:54:00:dd:00:01", "--nic", "enp2s0=52:54:00:dd:00:02", "--nic", "enp3s0=52:54:00:dd:00:03"])
        let notes = ambiguous.task("network-bindings")?["notes"]?.array?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.contains("cannot tell which") && $0.contains("52:54:00:aa:00:01") }, "\(notes)")
        #expect(ambiguous.change("network-bindings", path: "/etc/systemd/network/10-lan.network") == nil, "nothing guessed: \(ambiguous)")
    }

    @Test("leaves a file whose MAC matches no NIC as it is and reports it; the others are rebound and the run commits",
          arguments: NetworkFixture.LeftoverBinding.allCases, NetworkFixture.NICSetup.allCases)
    func leftoverBinding(_ leftover: NetworkFixture.LeftoverBinding, _ setup: NetworkFixture.NICSetup) throws {
        let root = try NetworkFixture.leftoverTemplate(leftover, setup)
        defer { root.remove() }
        let before = try root.signature()
        let arguments = ["--root", root.path, "--only", "network-bindings"] + setup.nics
        let note = "\(leftover.path) stays as it is"

        let planText = try SanitizeClone.run(["plan"] + arguments)
        #expect(planText.exitCode == 0 && planText.stdout.contains("note: \(note)"), "\(planText)")
        let plan = try InProcess.json(["plan", "--json"] + arguments)
        let notes = plan.task("network-bindings")?["notes"]?.array?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.hasPrefix(note) && $0.contains(NetworkFixture.leftoverMAC) }, "\(notes)")
        #expect(plan.change("network-bindings", path: leftover.path) == nil, "\(plan)")

        let session = try JournalListener.capture([(["run"] + arguments, nil)], in: root.scratch)
        let run = session.results[0]
        #expect(run.exitCode == 0 && run.stdout.contains("note: \(note)"), "\(run)")
        #expect(session.entries.contains { $0["PRIORITY"] == "5" && $0["MESSAGE"]?.contains("network-bindings: \(note)") == true },
                "a notice in the journal: \(session.entries)")
        #expect(root.bytes(leftover.path) == Array(leftover.text.utf8), "\(root.read(leftover.path) ?? "")")
        for binding in setup.namedBindings {
            #expect(root.read(binding.path)?.contains(binding.reboundLine) == true, "\(root.read(binding.path) ?? "")")
        }
        #expect(Self.value(of: "MACAddress", in: root.read(NetworkFixture.bondNetdevPath)) != NetworkFixture.fixedMAC)

        try expectRollbackRestores(root, since: before)
    }

    @Test("a bond port left as it is keeps the connection UUIDs it names, in its bond and NetworkManager's state too")
    func leftoverPortKeepsItsConnections() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let before = try root.signature()
        let kept = [Self.portPath, Self.bondPath, "/var/lib/NetworkManager/timestamps"].map { ($0, root.bytes($0)) }
        // One NIC: netplan's set-name gives it to the template's first NIC; the port's MAC has none left.
        let run = try InProcess.json(["run", "--root", root.path, "--json", "--only", "network-bindings",
                                          "--nic", "ens3=\(NetworkFixture.cloneMAC1),0000:00:03.0"])
        #expect(run["result"]?.string == "committed", "\(run)")
        let notes = run.task("network-bindings")?["notes"]?.array?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.hasPrefix("\(Self.portPath) stays as it is") && $0.contains(NetworkFixture.templateMAC2) }, "\(notes)")
        #expect(notes.contains { $0.hasPrefix("\(Self.bondPath) keeps connection UUID \(NetworkFixture.bondUUID)") }, "\(notes)")
        for (path, bytes) in kept {
            #expect(root.bytes(path) == bytes, "\(path): \(root.read(path) ?? "")")
        }
        #expect(root.read(Self.netplanPath)?.contains("macaddress: \"52:54:00:BB:00:01\"") == true)
        #expect(root.read("/etc/systemd/network/10-lan.network")?.contains("MACAddress=52:54:00:bb:00:01") == true)
        let ifcfg = root.read("/etc/sysconfig/network-scripts/ifcfg-eth0")
        #expect(Self.value(of: "HWADDR", in: ifcfg) == "\"52:54:00:BB:00:01\"" && Self.value(of: "UUID", in: ifcfg) != NetworkFixture.ifcfgUUID)

        try expectRollbackRestores(root, since: before)
    }

    @Test("the task's verify checks only the files it rebound: one changed since fails it, the file left as it is does not")
    func verifyChecksWhatWasRebound() throws {
        let root = try NetworkFixture.leftoverTemplate(.keyfile, .everyNICTaken)
        defer { root.remove() }
        let directory = try RootDirectory(path: root.path)
        var options = RunOptions()
        options.platform = PlatformFacts(productUUID: nil, interfaces: try NetworkFixture.NICSetup.everyNICTaken.nics
            .filter { $0 != "--nic" }.map(NetworkInterface.init(parsing:)))
        let task = NetworkBindingsTask()
        let planning = PlanningContext(root: directory, configuration: try Configuration.load(from: directory, keys: task.configurationKeys), options: options, deviceScope: .image([]))
        let decision = try #require(try task.plan(in: planning).decision)
        let context = ApplyContext(root: directory, runID: "verify-test", taskName: task.name, mode: .manual,
                                   audit: Audit(logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), runID: "verify-test")) { _, _ in }
        try task.apply(decision, in: context)
        try task.verify(decision, in: context)

        try root.write(NetworkFixture.LeftoverBinding.keyfile.path, "[connection]\nid=edited by hand\n", mode: 0o600)
        try task.verify(decision, in: context)

        try root.write(NetworkFixture.ens3Keyfile.path, NetworkFixture.ens3Keyfile.text, mode: 0o600)
        #expect(throws: VerificationError.self) { try task.verify(decision, in: context) }
    }

    @Test("malformed netplan YAML or keyfile: exit 2 naming the file and line, nothing changed", arguments: [
        ("/etc/netplan/50-template.yaml", "network:\n  ethernets:\n    lan: [unclosed\n"),
        ("/etc/NetworkManager/system-connections/bond0.nmconnection", "[connection\nid=bond0\n"),
        ("/etc/systemd/network/10-lan.network", "[Match]\nMACAddress 52:54:00:aa:00:01\n"),
    ])
    func malformedInput(_ path: String, _ text: String) throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        try root.write(path, text, mode: 0o600)
        let before = try root.signature()
        let result = try InProcess.run(["run", "--root", root.path, "--json"] + NetworkFixture.cloneNICs)
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains(path) && message.contains("line"), "\(message)")
        try expectUnchanged(root, since: before, "a refused run")
    }

    /// How many changes each task plans on the fixture (checked by `matrixCoversEveryChange`).
    static let changeCounts = [("network-bindings", 9), ("static-addresses", 5)]

    /// before-apply, change-1…change-N, after-apply of both tasks.
    static let crashPoints: [String] = changeCounts.flatMap { task, changes in
        (["before-apply"] + (1...changes).map { "change-\($0)" } + ["after-apply"]).map { "\(task):\($0)" }
    }

    @Test("the crash matrix covers every change both tasks plan")
    func matrixCoversEveryChange() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "network-bindings,static-addresses"] + NetworkFixture.cloneNICs)
        for (task, changes) in Self.changeCounts {
            #expect(plan.task(task)?["changes"]?.array?.count == changes, "\(task): \(plan)")
        }
    }

    @Test("a crash at every failpoint of both tasks is rolled back to the original bytes", arguments: crashPoints)
    func crashRecovery(_ point: String) throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let before = try root.signature()
        let arguments = ["run", "--root", root.path, "--only", "network-bindings,static-addresses"] + NetworkFixture.cloneNICs
        let crashed = try SanitizeClone.run(arguments, failpoint: point + ":crash")
        try #require(crashed.wasKilled, "\(crashed)")
        let recovered = try SanitizeClone.run(["rollback", "--root", root.path, "--last"])
        #expect(recovered.exitCode == 0, "\(recovered)")
        try expectUnchanged(root, since: before, "recovery after a crash at \(point)")
    }
}
