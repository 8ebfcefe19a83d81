import Foundation
import Testing

/// `static-addresses` probes every new IPv4 address before writing it (RFC 5227): run through the
/// CLI inside a network namespace whose veth peer (in a second namespace) may hold the address.
/// No traffic leaves the two namespaces.
@Suite("Static addresses are probed before they are written", .requiresRoot, .serialized)
struct StaticAddressProbeTests {
    static let network = "/etc/systemd/network/10-uplink.network"

    /// A template bound to its NIC's MAC with a static address, and an inventory giving the clone
    /// whose NIC has `cloneMAC` the address `address`.
    static func template(cloneMAC: String, address: String) throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        try root.write(network, "[Match]\nMACAddress=52:54:00:aa:00:01\n\n[Network]\nAddress=192.0.2.50/24\nGateway=192.0.2.1\n")
        try root.write("/etc/sanitize-clone/network-inventory", "\(cloneMAC) \(TwoHostLink.proberInterface) \(address) gateway=192.0.2.1\n")
        return root
    }

    /// `sanitize-clone run --probe-addresses` inside the prober's namespace.
    static func run(_ root: FixtureRoot, link: TwoHostLink, mac: String) throws -> CommandResult {
        return try HostCommand.run("ip", ["netns", "exec", link.prober.name, SanitizeClone.binary, "run", "--root", root.path, "--json",
                                          "--only", "network-bindings,static-addresses", "--probe-addresses",
                                          "--nic", "\(TwoHostLink.proberInterface)=\(mac)"], timeout: 120)
    }

    @Test("an address another host answers for fails the run, which rolls back everything")
    func addressInUse() throws {
        let link = try TwoHostLink(peerAddress: "192.0.2.77/24", proberUp: false)
        defer { link.remove() }
        let mac = try link.proberMAC()
        let root = try Self.template(cloneMAC: mac, address: "192.0.2.77/24")
        defer { root.remove() }
        let before = try root.signature()
        let result = try Self.run(root, link: link, mac: mac)
        #expect(result.exitCode == 1, "\(result)")
        let json = try #require(result.json, "\(result)")
        #expect(json["result"]?.string == "rolled-back", "\(json)")
        let failure = json.task("static-addresses")?["error"]?.string ?? ""
        let peerMAC = try link.peerMAC()
        #expect(failure.contains("192.0.2.77 is already in use") && failure.contains(peerMAC), "\(json)")
        try expectUnchanged(root, since: before, "a run whose address was taken")
        #expect(try !link.proberIsUp(), "the probe put the NIC back down")
    }

    @Test("a free address is probed, then written; the network file follows the clone's NIC")
    func freeAddress() throws {
        let link = try TwoHostLink(peerAddress: "192.0.2.77/24", proberUp: false)
        defer { link.remove() }
        let mac = try link.proberMAC()
        let root = try Self.template(cloneMAC: mac, address: "192.0.2.78/24")
        defer { root.remove() }
        let result = try Self.run(root, link: link, mac: mac)
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.json?["result"]?.string == "committed", "\(result)")
        let text = root.read(Self.network) ?? ""
        #expect(text == "[Match]\nMACAddress=\(mac)\n\n[Network]\nAddress=192.0.2.78/24\nGateway=192.0.2.1\n", "\(text)")
        #expect(result.stderr.contains("192.0.2.78 is free on \(TwoHostLink.proberInterface)"), "\(result.stderr)")
    }
}

/// On the running system the clone's NICs are read from sysfs: run inside a network namespace
/// (`ip netns exec` mounts that namespace's sysfs) holding two veth pairs (this kernel has no
/// dummy links).
@Suite("The running system's NICs come from sysfs", .requiresRoot)
struct LiveInterfaceDiscoveryTests {
    @Test("names, MACs and virtual links as sysfs shows them, loopback left out")
    func discoversLinksInANamespace() throws {
        let namespace = try NetworkNamespace(prefix: "sc-nics")
        defer { namespace.remove() }
        try namespace.ip(["link", "add", "link7", "address", "02:11:22:33:44:55", "type", "veth", "peer", "name", "link8"])
        try namespace.ip(["link", "add", "vethA", "address", "02:11:22:33:44:66", "type", "veth", "peer", "name", "vethB", "address", "02:11:22:33:44:77"])
        let result = try HostCommand.run("ip", ["netns", "exec", namespace.name, SanitizeClone.binary, "detect", "--json"])
        #expect(result.exitCode == 0, "\(result)")
        let interfaces = try #require(result.json?["interfaces"]?.array, "\(result)")
        let byName = Dictionary(uniqueKeysWithValues: interfaces.compactMap { nic in nic["name"]?.string.map { ($0, nic) } })
        #expect(Set(byName.keys) == ["link7", "link8", "vethA", "vethB"], "\(result.stdout)")
        #expect(byName["link7"]?["mac"]?.string == "02:11:22:33:44:55")
        #expect(byName["vethA"]?["mac"]?.string == "02:11:22:33:44:66")
        #expect(byName["vethB"]?["physical"]?.bool == false)
        #expect(byName["link7"]?["pci_address"] == .null || byName["link7"]?["pci_address"] == nil)
    }
}
