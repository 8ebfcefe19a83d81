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
