/// One interface's static addresses in one configuration file.
struct StaticInterface: Sendable {
    /// The name the configuration gives it.
    let name: String
    /// MACs the configuration matches it by.
    let matchedMACs: [MACAddress]
    /// Its static addresses, "address/prefix".
    let addresses: [String]

    func addresses(of family: IPFamily) -> [String] { addresses.filter { IPFamily.of($0) == family } }
}

/// What an interface gets for one address family.
enum FamilyTarget: Sendable, Equatable {
    /// Leave the template's addresses.
    case keep
    /// Drop them and use DHCP (or SLAAC/DHCPv6 for IPv6).
    case dhcp
    /// These addresses instead, with a gateway and DNS servers when given.
    case replace(addresses: [String], gateway: String?, dns: [String]?)
}

/// What an interface gets, per family.
struct InterfaceTarget: Sendable {
    var v4: FamilyTarget = .keep
    var v6: FamilyTarget = .keep
    subscript(family: IPFamily) -> FamilyTarget { family == .v4 ? v4 : v6 }
}

/// A configuration file that gives interfaces static addresses, in one renderer's syntax.
protocol StaticAddressFile {
    var interfaces: [StaticInterface] { get }
    /// The file's text with each interface given its target (by index in `interfaces`).
    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String
}

/// Whole-line edits to a file: lines replaced (or removed) and lines added after others.
struct LineEdits {
    let lines: ConfigLines
    private var replaced: [Int: [String]] = [:]
    private var appended: [Int: [String]] = [:]

    init(_ text: String) { lines = ConfigLines(text) }

    mutating func replace(_ index: Int, with newLines: [String]) { replaced[index] = newLines }
    mutating func remove(_ index: Int) { replaced[index] = [] }
    mutating func append(_ newLines: [String], after index: Int) { appended[index, default: []] += newLines }

    /// The leading blanks of line `index`.
    func indentation(of index: Int) -> String { String(lines.lines[index].text.prefix { $0 == " " || $0 == "\t" }) }

    func apply(to text: String) -> String {
        var edits: [TextEdit] = []
        for index in Set(replaced.keys).union(appended.keys) {
            let line = lines.lines[index]
            let range = line.rangeWithNewline(in: lines)
            let hasNewline = range.upperBound > line.offset + line.text.utf8.count
            let newLines = (replaced[index] ?? [String(line.text)]) + (appended[index] ?? [])
            var replacement = newLines.map { $0 + "\n" }.joined()
            if !hasNewline && !replacement.isEmpty { replacement.removeLast() }
            edits.append(TextEdit(range: range, replacement: replacement))
        }
        return TextEdit.apply(edits, to: text)
    }
}

/// A systemd-networkd `.network` file: `Address=`, `Gateway=`, `DNS=`, `DHCP=`.
struct NetworkdStaticFile: StaticAddressFile {
    let text: String
    let entries: [KeyFile.Entry]
    let interfaces: [StaticInterface]

    init?(text: String, path: String) throws {
        guard path.hasSuffix(".network") else { return nil }
        entries = try KeyFile.entries(of: text, path: path, commentCharacters: ["#", ";"],
                                      fix: "fix the file (see systemd.network(5)) or skip the task with --skip static-addresses")
        let addresses = entries.filter { $0.key == "Address" && ($0.section == "Network" || $0.section == "Address") }.map { String($0.value) }
            .filter(IPFamily.isAddressWithPrefix)
        guard !addresses.isEmpty else { return nil }
        self.text = text
        let match = entries.filter { $0.section == "Match" }
        let name = match.first { $0.key == "Name" }?.value.split(separator: " ").first.map(String.init)
            ?? String(path.split(separator: "/").last ?? "")
        let macs = match.filter { $0.key == "MACAddress" || $0.key == "PermanentMACAddress" }
            .flatMap { $0.value.split(separator: " ").compactMap(MACAddress.init) }
        interfaces = [StaticInterface(name: name, matchedMACs: macs, addresses: addresses)]
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        guard let target = targets[0] else { return text }
        var edits = LineEdits(text)
        let index = { (entry: KeyFile.Entry) in entry.line.number - 1 }
        let networkHeader = edits.lines.lines.firstIndex { $0.trimmed == "[Network]" }
        var dhcpFamilies: [IPFamily] = []
        var added: [String] = []
        for family in [IPFamily.v4, .v6] {
            let addressEntries = entries.filter { $0.key == "Address" && IPFamily.of(String($0.value)) == family }
            let gatewayEntries = entries.filter { $0.key == "Gateway" && IPFamily.of(String($0.value)) == family }
            switch target[family] {
            case .keep:
                continue
            case .dhcp:
                addressEntries.forEach { edits.remove(index($0)) }
                gatewayEntries.filter { $0.section == "Network" }.forEach { edits.remove(index($0)) }
                dhcpFamilies.append(family)
            case .replace(let addresses, let gateway, let dns):
                if let first = addressEntries.first {
                    let inNetwork = first.section == "Network"
                    edits.replace(index(first), with: (inNetwork ? addresses : [addresses[0]]).map { "Address=\($0)" })
                    if !inNetwork { added += addresses.dropFirst().map { "Address=\($0)" } }
                    addressEntries.dropFirst().forEach { edits.remove(index($0)) }
                } else {
                    added += addresses.map { "Address=\($0)" }
                }
                if let gateway {
                    if gatewayEntries.isEmpty { added.append("Gateway=\(gateway)") }
                    for entry in gatewayEntries { edits.replace(index(entry), with: ["Gateway=\(gateway)"]) }
                }
                if let dns {
                    let dnsEntries = entries.filter { $0.section == "Network" && $0.key == "DNS" }
                    if let first = dnsEntries.first {
                        edits.replace(index(first), with: ["DNS=\(dns.joined(separator: " "))"])
                        dnsEntries.dropFirst().forEach { edits.remove(index($0)) }
                    } else {
                        added.append("DNS=\(dns.joined(separator: " "))")
                    }
                }
            }
        }
        if !dhcpFamilies.isEmpty {
            let existing = entries.first { $0.section == "Network" && $0.key == "DHCP" }
            var families = Set(dhcpFamilies)
            switch existing.map({ $0.value.lowercased() }) {
            case "yes", "true", "both": families = [.v4, .v6]
            case "ipv4": families.insert(.v4)
            case "ipv6": families.insert(.v6)
            default: break
            }
            let value = families.count == 2 ? "yes" : families.contains(.v4) ? "ipv4" : "ipv6"
            if let existing { edits.replace(index(existing), with: ["DHCP=\(value)"]) } else { added.append("DHCP=\(value)") }
        }
        if !added.isEmpty {
            guard let networkHeader else {
                return text + (text.hasSuffix("\n") || text.isEmpty ? "" : "\n") + "\n[Network]\n" + added.joined(separator: "\n") + "\n"
            }
            edits.append(added, after: networkHeader)
        }
        return edits.apply(to: text)
    }
}

/// A NetworkManager keyfile: `[ipv4]`/`[ipv6]` with `method=manual`, `addressN=`, `gateway=`, `dns=`.
struct NetworkManagerStaticFile: StaticAddressFile {
    let text: String
    let entries: [KeyFile.Entry]
    let interfaces: [StaticInterface]

    static func isAddressKey(_ key: String) -> Bool {
        (key.hasPrefix("address") && key.dropFirst("address".count).allSatisfy(\.isNumber))
            || (key.hasPrefix("addresses") && key.dropFirst("addresses".count).allSatisfy(\.isNumber))
    }

    init?(text: String, path: String) throws {
        entries = try KeyFile.entries(of: text, path: path, commentCharacters: ["#", ";"],
                                      fix: "fix the keyfile or skip the task with --skip static-addresses")
        var addresses: [String] = []
        for section in ["ipv4", "ipv6"] where entries.contains(where: { $0.section == section && $0.key == "method" && $0.value == "manual" }) {
            for entry in entries where entry.section == section && Self.isAddressKey(entry.key) {
                addresses += entry.value.split(separator: ";").compactMap { $0.split(separator: ",").first.map(String.init) }
                    .filter(IPFamily.isAddressWithPrefix)
            }
        }
        guard !addresses.isEmpty else { return nil }
        self.text = text
        let name = entries.first { $0.section == "connection" && $0.key == "interface-name" }?.value
            ?? entries.first { $0.section == "connection" && $0.key == "id" }?.value ?? ""
        let macs = entries.filter { ($0.section == "ethernet" || $0.section == "802-3-ethernet") && $0.key == "mac-address" }
            .compactMap { MACAddress($0.value) }
        interfaces = [StaticInterface(name: String(name), matchedMACs: macs, addresses: addresses)]
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        guard let target = targets[0] else { return text }
        var edits = LineEdits(text)
        let index = { (entry: KeyFile.Entry) in entry.line.number - 1 }
        for family in [IPFamily.v4, .v6] {
            let section = family == .v4 ? "ipv4" : "ipv6"
            let inSection = entries.filter { $0.section == section }
            let addressEntries = inSection.filter { Self.isAddressKey($0.key) }
            guard let method = inSection.first(where: { $0.key == "method" }), method.value == "manual" else { continue }
            switch target[family] {
            case .keep:
                continue
            case .dhcp:
                edits.replace(index(method), with: ["method=auto"])
                addressEntries.forEach { edits.remove(index($0)) }
                inSection.filter { $0.key == "gateway" }.forEach { edits.remove(index($0)) }
            case .replace(let addresses, let gateway, let dns):
                let gatewayEntry = inSection.first { $0.key == "gateway" }
                let inlineGateway = gateway != nil && gatewayEntry == nil
                var lines = addresses.enumerated().map { "address\($0.offset + 1)=\($0.element)" }
                if inlineGateway, let gateway { lines[0] += ",\(gateway)" }
                let anchor = addressEntries.first ?? method
                if addressEntries.isEmpty { edits.append(lines, after: index(method)) } else { edits.replace(index(anchor), with: lines) }
                addressEntries.dropFirst().forEach { edits.remove(index($0)) }
                if let gateway, let gatewayEntry { edits.replace(index(gatewayEntry), with: ["gateway=\(gateway)"]) }
                if let dns {
                    let value = "dns=\(dns.joined(separator: ";"));"
                    if let dnsEntry = inSection.first(where: { $0.key == "dns" }) { edits.replace(index(dnsEntry), with: [value]) } else {
                        edits.append([value], after: index(method))
                    }
                }
            }
        }
        return edits.apply(to: text)
    }
}

/// A Red Hat ifcfg file: `BOOTPROTO=`, `IPADDR[N]=`, `PREFIX[N]=`/`NETMASK[N]=`, `GATEWAY=`, `DNSn=`, `IPV6ADDR=`.
struct IfcfgStaticFile: StaticAddressFile {
    let text: String
    let variables: [(key: String, value: Substring, index: Int)]
    let interfaces: [StaticInterface]

    static func numbered(_ key: String, _ base: String) -> Bool {
        key.hasPrefix(base) && key.dropFirst(base.count).allSatisfy(\.isNumber)
    }

    init?(text: String, path: String) throws {
        var variables: [(key: String, value: Substring, index: Int)] = []
        for (index, line) in ConfigLines(text).lines.enumerated() {
            let trimmed = line.trimmed
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            variables.append((String(trimmed[..<equals]), trimmed[trimmed.index(after: equals)...].unquoted(), index))
        }
        let bootproto = variables.first { $0.key == "BOOTPROTO" }?.value.lowercased() ?? "none"
        var addresses: [String] = []
        if bootproto == "none" || bootproto == "static" {
            for variable in variables where Self.numbered(variable.key, "IPADDR") {
                let suffix = variable.key.dropFirst("IPADDR".count)
                let prefix = variables.first { $0.key == "PREFIX\(suffix)" }.flatMap { Int($0.value) }
                    ?? variables.first { $0.key == "NETMASK\(suffix)" }.flatMap { IPFamily.prefix(netmask: String($0.value)) } ?? 24
                addresses.append("\(variable.value)/\(prefix)")
            }
        }
        for variable in variables where variable.key == "IPV6ADDR" || variable.key == "IPV6ADDR_SECONDARIES" {
            addresses += variable.value.split(separator: " ").map(String.init).filter(IPFamily.isAddressWithPrefix)
        }
        guard !addresses.isEmpty else { return nil }
        self.text = text
        self.variables = variables
        let name = variables.first { $0.key == "DEVICE" }.map { String($0.value) }
            ?? String(path.split(separator: "/").last?.dropFirst("ifcfg-".count) ?? "")
        let macs = variables.filter { $0.key == "HWADDR" }.compactMap { MACAddress($0.value) }
        interfaces = [StaticInterface(name: name, matchedMACs: macs, addresses: addresses)]
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        guard let target = targets[0] else { return text }
        var edits = LineEdits(text)
        let quote = variables.first { Self.numbered($0.key, "IPADDR") }.map { variable in
            String(edits.lines.lines[variable.index].text).contains("\"") ? "\"" : ""
        } ?? ""
        func assignment(_ key: String, _ value: String) -> String { "\(key)=\(quote)\(value)\(quote)" }
        switch target.v4 {
        case .keep:
            break
        case .dhcp:
            for variable in variables where ["IPADDR", "PREFIX", "NETMASK"].contains(where: { Self.numbered(variable.key, $0) }) || variable.key == "GATEWAY" {
                edits.remove(variable.index)
            }
            if let bootproto = variables.first(where: { $0.key == "BOOTPROTO" }) {
                edits.replace(bootproto.index, with: [assignment("BOOTPROTO", "dhcp")])
            } else if let first = variables.first {
                edits.append([assignment("BOOTPROTO", "dhcp")], after: first.index)
            }
        case .replace(let addresses, let gateway, let dns):
            let old = variables.filter { variable in ["IPADDR", "PREFIX", "NETMASK"].contains(where: { Self.numbered(variable.key, $0) }) }
            var lines: [String] = []
            for (number, address) in addresses.enumerated() {
                let parts = address.split(separator: "/")
                let suffix = number == 0 ? "" : String(number)
                lines += [assignment("IPADDR\(suffix)", String(parts[0])), assignment("PREFIX\(suffix)", String(parts[1]))]
            }
            if let first = old.first { edits.replace(first.index, with: lines) }
            old.dropFirst().forEach { edits.remove($0.index) }
            if let gateway {
                if let entry = variables.first(where: { $0.key == "GATEWAY" }) { edits.replace(entry.index, with: [assignment("GATEWAY", gateway)]) } else if let first = old.first {
                    edits.append([assignment("GATEWAY", gateway)], after: first.index)
                }
            }
            if let dns {
                let oldDNS = variables.filter { Self.numbered($0.key, "DNS") && $0.key != "DNS" }
                let newLines = dns.enumerated().map { assignment("DNS\($0.offset + 1)", $0.element) }
                if let first = oldDNS.first { edits.replace(first.index, with: newLines) } else if let anchor = old.first { edits.append(newLines, after: anchor.index) }
                oldDNS.dropFirst().forEach { edits.remove($0.index) }
            }
        }
        let v6 = variables.filter { ["IPV6ADDR", "IPV6ADDR_SECONDARIES", "IPV6_DEFAULTGW"].contains($0.key) }
        switch target.v6 {
        case .keep:
            break
        case .dhcp:
            v6.forEach { edits.remove($0.index) }
            if let anchor = v6.first { edits.append([assignment("IPV6_AUTOCONF", "yes")], after: anchor.index) }
        case .replace(let addresses, let gateway, _):
            let primary = variables.first { $0.key == "IPV6ADDR" }
            if let primary { edits.replace(primary.index, with: [assignment("IPV6ADDR", addresses[0])] + (addresses.count > 1 ? [assignment("IPV6ADDR_SECONDARIES", addresses.dropFirst().joined(separator: " "))] : [])) }
            variables.filter { $0.key == "IPV6ADDR_SECONDARIES" }.forEach { edits.remove($0.index) }
            if let gateway, let entry = variables.first(where: { $0.key == "IPV6_DEFAULTGW" }) { edits.replace(entry.index, with: [assignment("IPV6_DEFAULTGW", gateway)]) }
        }
        return edits.apply(to: text)
    }
}

/// Debian's ifupdown: `iface NAME inet static` stanzas with `address`, `netmask`, `gateway`, `dns-nameservers`.
struct InterfacesStaticFile: StaticAddressFile {
    struct Stanza {
        let header: Int
        let name: String
        let family: IPFamily
        let method: String
        /// (line index, option, value)
        let options: [(index: Int, option: String, value: String)]
    }

    let text: String
    let stanzas: [Stanza]
    /// Stanza indexes per interface in `interfaces`.
    let groups: [[Int]]
    let interfaces: [StaticInterface]

    init?(text: String, path: String) {
        var stanzas: [Stanza] = []
        var current: (header: Int, words: [Substring])?
        var options: [(index: Int, option: String, value: String)] = []
        func close() {
            guard let open = current, open.words.count >= 4 else { return }
            stanzas.append(Stanza(header: open.header, name: String(open.words[1]), family: open.words[2] == "inet6" ? .v6 : .v4,
                                  method: String(open.words[3]), options: options))
        }
        for (index, line) in ConfigLines(text).lines.enumerated() {
            let words = line.trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            if InterfacesFile.stanzaStarts.contains(first) || first.hasPrefix("allow-") {
                close()
                current = first == "iface" ? (index, words) : nil
                options = []
                continue
            }
            if current != nil { options.append((index, String(first), words.dropFirst().joined(separator: " "))) }
        }
        close()
        var interfaces: [StaticInterface] = []
        var groups: [[Int]] = []
        for (number, stanza) in stanzas.enumerated() where stanza.method == "static" {
            guard let address = stanza.options.first(where: { $0.option == "address" })?.value else { continue }
            var withPrefix = address
            if !address.contains("/") {
                let netmask = stanza.options.first { $0.option == "netmask" }?.value
                let prefix = netmask.flatMap { Int($0) ?? IPFamily.prefix(netmask: $0) } ?? (stanza.family == .v4 ? 24 : 64)
                withPrefix = "\(address)/\(prefix)"
            }
            if let existing = interfaces.firstIndex(where: { $0.name == stanza.name }) {
                interfaces[existing] = StaticInterface(name: stanza.name, matchedMACs: [], addresses: interfaces[existing].addresses + [withPrefix])
                groups[existing].append(number)
            } else {
                interfaces.append(StaticInterface(name: stanza.name, matchedMACs: [], addresses: [withPrefix]))
                groups.append([number])
            }
        }
        guard !interfaces.isEmpty else { return nil }
        self.text = text
        self.stanzas = stanzas
        self.groups = groups
        self.interfaces = interfaces
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        var edits = LineEdits(text)
        for (interface, target) in targets {
            for stanza in groups[interface].map({ stanzas[$0] }) {
                let indentation = stanza.options.first.map { edits.indentation(of: $0.index) } ?? "    "
                let addressOptions: Set<String> = ["address", "netmask", "broadcast", "network"]
                switch target[stanza.family] {
                case .keep:
                    continue
                case .dhcp:
                    let headerText = String(edits.lines.lines[stanza.header].text)
                    edits.replace(stanza.header, with: [headerText.replacingLastOccurrence(of: "static", with: stanza.family == .v4 ? "dhcp" : "auto")])
                    stanza.options.filter { addressOptions.contains($0.option) || $0.option == "gateway" }.forEach { edits.remove($0.index) }
                case .replace(let addresses, let gateway, let dns):
                    let old = stanza.options.filter { addressOptions.contains($0.option) }
                    if let first = old.first(where: { $0.option == "address" }) {
                        edits.replace(first.index, with: addresses.map { "\(indentation)address \($0)" })
                    }
                    old.filter { $0.option != "address" || $0.index != old.first(where: { $0.option == "address" })?.index }.forEach { edits.remove($0.index) }
                    if let gateway {
                        if let entry = stanza.options.first(where: { $0.option == "gateway" }) { edits.replace(entry.index, with: ["\(indentation)gateway \(gateway)"]) } else if let first = old.first {
                            edits.append(["\(indentation)gateway \(gateway)"], after: first.index)
                        }
                    }
                    if let dns, let entry = stanza.options.first(where: { $0.option == "dns-nameservers" }) {
                        edits.replace(entry.index, with: ["\(indentation)dns-nameservers \(dns.joined(separator: " "))"])
                    }
                }
            }
        }
        return edits.apply(to: text)
    }
}

/// Netplan YAML: `addresses:`, `gateway4`/`gateway6`, default `routes`, `nameservers`, `dhcp4`/`dhcp6`,
/// edited at their positions.
struct NetplanStaticFile: StaticAddressFile {
    let document: YAMLDocument
    let found: [(interface: NetplanFile.Interface, addresses: YAMLNode)]
    let interfaces: [StaticInterface]

    init?(text: String, path: String) throws {
        document = try NetplanFile.document(text, path: path)
        var found: [(interface: NetplanFile.Interface, addresses: YAMLNode)] = []
        var interfaces: [StaticInterface] = []
        for interface in NetplanFile.interfaces(of: document) {
            guard let addresses = interface.node.value(forKey: "addresses"), addresses.kind == .sequence else { continue }
            let values = addresses.items.compactMap(\.scalar).filter(IPFamily.isAddressWithPrefix)
            guard !values.isEmpty else { continue }
            found.append((interface, addresses))
            let mac = interface.node.value(forKey: "match")?.value(forKey: "macaddress")?.scalar.flatMap(MACAddress.init)
            interfaces.append(StaticInterface(name: interface.name, matchedMACs: mac.map { [$0] } ?? [], addresses: values))
        }
        guard !found.isEmpty else { return nil }
        self.found = found
        self.interfaces = interfaces
    }

    static func isDefaultRoute(_ destination: String?, _ family: IPFamily) -> Bool {
        guard let destination else { return false }
        return destination == "default" ? true : family == .v4 ? destination == "0.0.0.0/0" : destination == "::/0"
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        var edits = YAMLEdits(document: document)
        for (number, target) in targets {
            let (interface, addressesNode) = found[number]
            let old = interfaces[number].addresses
            var newAddresses: [String] = []
            var dhcpFamilies: [IPFamily] = []
            for family in [IPFamily.v4, .v6] {
                switch target[family] {
                case .keep: newAddresses += old.filter { IPFamily.of($0) == family }
                case .dhcp: dhcpFamilies.append(family)
                case .replace(let addresses, _, _): newAddresses += addresses
                }
            }
            if newAddresses.isEmpty { edits.removeEntry(key: "addresses", from: interface.node) } else if newAddresses != old {
                edits.replaceSequence(addressesNode, with: newAddresses)
            }
            let routes = interface.node.value(forKey: "routes")
            var removedRoutes = false
            var replacedServers = false
            for family in [IPFamily.v4, .v6] {
                let gatewayKey = family == .v4 ? "gateway4" : "gateway6"
                let defaultRoutes = routes?.items.filter { Self.isDefaultRoute($0.value(forKey: "to")?.scalar, family) && IPFamily.of($0.value(forKey: "via")?.scalar ?? "") == family } ?? []
                switch target[family] {
                case .keep:
                    continue
                case .dhcp:
                    if interface.node.value(forKey: gatewayKey) != nil { edits.removeEntry(key: gatewayKey, from: interface.node) }
                    if let routes, !removedRoutes, !defaultRoutes.isEmpty, routes.items.count == defaultRoutes.count {
                        edits.removeEntry(key: "routes", from: interface.node)
                        removedRoutes = true
                    }
                    let dhcpKey = family == .v4 ? "dhcp4" : "dhcp6"
                    if let existing = interface.node.value(forKey: dhcpKey) { edits.replaceScalar(existing, with: true) } else {
                        edits.addEntry(key: dhcpKey, boolean: true, to: interface.node)
                    }
                case .replace(_, let gateway, let dns):
                    if let gateway {
                        if let node = interface.node.value(forKey: gatewayKey) { edits.replaceScalar(node, with: gateway) }
                        for route in defaultRoutes { if let via = route.value(forKey: "via") { edits.replaceScalar(via, with: gateway) } }
                    }
                    if let dns, !replacedServers, let servers = interface.node.value(forKey: "nameservers")?.value(forKey: "addresses"), servers.kind == .sequence {
                        edits.replaceSequence(servers, with: dns)
                        replacedServers = true
                    }
                }
            }
        }
        return try edits.apply()
    }
}

extension String {
    /// The string with the last occurrence of `target` replaced.
    func replacingLastOccurrence(of target: String, with replacement: String) -> String {
        guard let range = ranges(of: target).last else { return self }
        var result = self
        result.replaceSubrange(range, with: replacement)
        return result
    }
}
