/// The MAC addresses a root's network configuration names, by file: netplan, NetworkManager
/// keyfiles, systemd-networkd `.network`/`.link` files, ifcfg files, ifupdown and udev's
/// persistent-net rules. `verify` checks that each names a NIC the clone has.
public enum NetworkConfigMACs {
    /// Where network configuration lives, and which files count.
    static let places: [(directory: String, suffixes: [String])] = [
        ("/etc/netplan", [".yaml", ".yml"]),
        ("/etc/NetworkManager/system-connections", [""]),
        ("/etc/systemd/network", [".network", ".link", ".netdev"]),
        ("/etc/sysconfig/network-scripts", [""]),
        ("/etc/network", ["interfaces"]),
        ("/etc/network/interfaces.d", [""]),
        ("/etc/udev/rules.d", ["70-persistent-net.rules"]),
    ]

    /// Each configuration file that names a MAC, with the MACs (lowercase) it names.
    public static func named(in root: RootDirectory) throws -> [(path: String, macs: [String])] {
        var result: [(path: String, macs: [String])] = []
        for place in places {
            for name in try root.directoryEntries(place.directory) where !name.hasPrefix(".") {
                guard place.suffixes.contains(where: { $0.isEmpty || name.hasSuffix($0) }) else { continue }
                let path = RootPath.join(place.directory, name)
                guard let text = try root.readText(path) else { continue }
                let macs = macAddresses(in: text)
                if !macs.isEmpty { result.append((path, macs)) }
            }
        }
        return result
    }

    /// Every `xx:xx:xx:xx:xx:xx` (or with dashes) in `text`, outside comments, lowercase.
    static func macAddresses(in text: String) -> [String] {
        var found: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let characters = Array(content)
            var index = 0
            while index + 17 <= characters.count {
                let candidate = characters[index..<index + 17]
                if isMAC(candidate) && (index == 0 || !characters[index - 1].isASCIIHexDigit) &&
                    (index + 17 == characters.count || !characters[index + 17].isASCIIHexDigit) {
                    found.append(String(candidate).lowercased().replacingDashes())
                    index += 17
                } else {
                    index += 1
                }
            }
        }
        return found
    }

    private static func isMAC(_ characters: ArraySlice<Character>) -> Bool {
        let array = Array(characters)
        let separator = array[2]
        guard separator == ":" || separator == "-" else { return false }
        for (offset, character) in array.enumerated() {
            if offset % 3 == 2 { if character != separator { return false } } else if !character.isASCIIHexDigit { return false }
        }
        return true
    }
}

extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? ":" : $0 }) }
}
