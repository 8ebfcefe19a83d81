/// What one clone's interface gets instead of the template's static addresses: its own static
/// addresses (with gateway and DNS servers when given) or DHCP.
///
/// The same line format serves the `sanitize-clone.network` credential and the inventory file:
///
///     <interface> <address/prefix>… [gateway=<ip>] [gateway6=<ip>] [dns=<ip>,<ip>…]
///     <interface> dhcp
///
/// `<interface>` is the name the template's configuration gives the interface (netplan id,
/// NetworkManager `interface-name`, networkd `Name=`, ifcfg `DEVICE=`, ifupdown `iface`), a MAC of
/// the clone's NIC, or `*` for the only interface with static addresses. Lines may also be
/// separated by `;` (an SMBIOS credential is one line).
public struct AddressAssignment: Sendable, Equatable {
    public var interface: String
    /// nil: DHCP.
    public var addresses: [String]?
    public var gateway4: String?
    public var gateway6: String?
    public var dns: [String]?

    /// The assignment for `family`: its addresses of that family (nil when it gives none, so the
    /// policy decides that family), or an empty list meaning DHCP.
    func addresses(of family: IPFamily) -> [String]? {
        guard let addresses else { return [] }
        let matching = addresses.filter { IPFamily.of($0) == family }
        return matching.isEmpty ? nil : matching
    }

    func gateway(of family: IPFamily) -> String? { family == .v4 ? gateway4 : gateway6 }

    /// Parses assignment lines; `source` names where they come from in errors.
    static func parse(_ text: String, source: String, keyed: Bool) throws -> [(key: String?, assignment: AddressAssignment)] {
        var result: [(key: String?, assignment: AddressAssignment)] = []
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == ";" })
        for (index, rawLine) in lines.enumerated() {
            let line = rawLine.trimmingBlanks()
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let format = keyed ? "<product-uuid or MAC> <interface> <address/prefix>… [gateway=IP] [dns=IP,…] | dhcp" : "<interface> <address/prefix>… [gateway=IP] [dns=IP,…] | dhcp"
            func fail(_ problem: String) -> InputError {
                InputError("\(source): line \(index + 1): \(problem); expected \(format)")
            }
            let key = keyed ? words.removeFirst() : nil
            guard words.count >= 2 else { throw fail("too few fields") }
            var assignment = AddressAssignment(interface: words.removeFirst())
            if words == ["dhcp"] { result.append((key, assignment)); continue }
            var addresses: [String] = []
            for word in words {
                if let value = word.removingPrefix("gateway=") ?? word.removingPrefix("gateway4=") {
                    guard IPFamily.of(value) == .v4, !value.contains("/") else { throw fail("\(word) is not an IPv4 address") }
                    assignment.gateway4 = value
                } else if let value = word.removingPrefix("gateway6=") {
                    guard IPFamily.of(value) == .v6, !value.contains("/") else { throw fail("\(word) is not an IPv6 address") }
                    assignment.gateway6 = value
                } else if let value = word.removingPrefix("dns=") {
                    let servers = value.split(separator: ",").map(String.init)
                    guard !servers.isEmpty, servers.allSatisfy({ IPFamily.of($0) != nil && !$0.contains("/") }) else { throw fail("\(word) is not a list of IP addresses") }
                    assignment.dns = servers
                } else {
                    guard IPFamily.isAddressWithPrefix(word) else { throw fail("\(word) is not an address/prefix such as 192.0.2.10/24") }
                    addresses.append(word)
                }
            }
            guard !addresses.isEmpty else { throw fail("no address for \(assignment.interface)") }
            assignment.addresses = addresses
            result.append((key, assignment))
        }
        return result
    }

    init(interface: String) { self.interface = interface }
}

/// IPv4 or IPv6, told from an address's text.
enum IPFamily: String, Sendable {
    case v4 = "IPv4", v6 = "IPv6"

    /// The family of "a.b.c.d[/n]" or an IPv6 address (with or without prefix); nil otherwise.
    static func of(_ text: String) -> IPFamily? {
        let address = text.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let octets = address.split(separator: ".", omittingEmptySubsequences: false)
        // ASCII digits only: `isNumber` also holds for '½' or '٣', which `Int` does not read.
        if octets.count == 4, octets.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy({ $0.isASCII && $0.isNumber }) && Int($0)! <= 255 }) {
            return .v4
        }
        if address.contains(":"), address.allSatisfy({ $0.isASCIIHexDigit || $0 == ":" || $0 == "." }),
           address.split(separator: ":", omittingEmptySubsequences: false).count <= 8 { return .v6 }
        return nil
    }

    /// True for "address/prefix" with a prefix in range for its family.
    static func isAddressWithPrefix(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let family = of(String(parts[0])), let prefix = Int(parts[1]) else { return false }
        return prefix >= 0 && prefix <= (family == .v4 ? 32 : 128)
    }

    /// The four bytes of a dotted IPv4 address.
    static func ipv4Bytes(_ text: String) -> [UInt8]? {
        let address = text.split(separator: "/").first ?? ""
        let octets = address.split(separator: ".").compactMap { UInt8($0) }
        return octets.count == 4 ? octets : nil
    }

    /// "255.255.255.0" for 24.
    static func netmask(prefix: Int) -> String {
        let bits: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - UInt32(prefix))
        return [24, 16, 8, 0].map { String((bits >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }

    /// 24 for "255.255.255.0"; nil for a mask that is not contiguous.
    static func prefix(netmask: String) -> Int? {
        guard let bytes = ipv4Bytes(netmask) else { return nil }
        let bits = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let count = bits.nonzeroBitCount
        return (count == 0 ? 0 : ~UInt32(0) << (32 - UInt32(count))) == bits ? count : nil
    }
}

extension String {
    /// The rest of the string after `prefix`, or nil when it does not start with it.
    func removingPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
