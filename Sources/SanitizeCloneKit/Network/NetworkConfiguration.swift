/// The programs that read network configuration, each with its own files and syntax.
public enum NetworkRenderer: String, Sendable, CaseIterable {
    case netplan
    case networkManager = "NetworkManager"
    case networkd = "systemd-networkd"
    case ifcfg
    case ifupdown
    case udevPersistentNet = "udev persistent-net"
}

/// A MAC address in a network configuration file, and whether the file matches a NIC by it or
/// sets it on an interface.
struct MACReference: Sendable {
    enum Role: String, Sendable {
        /// The configuration applies to the NIC that has this address (netplan `match:`,
        /// NetworkManager `mac-address=`, networkd `[Match]`, ifcfg `HWADDR=`, udev rules).
        case matched
        /// The configuration gives an interface this address (netplan `macaddress:`,
        /// `cloned-mac-address=`, networkd `[Link]`/`[NetDev] MACAddress=`, ifcfg `MACADDR=`,
        /// ifupdown `hwaddress`).
        case set
    }

    let role: Role
    let address: MACAddress
    /// The bytes of the address in the file.
    let range: Range<Int>
    /// The address as the file writes it.
    let written: String
    /// The interface name the same configuration gives (set-name, interface-name, Name=, DEVICE=…).
    let interfaceName: String?
    /// Where it is, for the plan: "[Match] MACAddress=", "ethernets.lan.match.macaddress"…
    let setting: String
}

/// A NetworkManager connection UUID in a file: its definition (`uuid=`, ifcfg `UUID=`) or any
/// other token that may refer to one (`master=`, `controller=`, `parent=`, timestamps…).
struct ConnectionUUIDToken: Sendable {
    /// Lowercase.
    let uuid: String
    let range: Range<Int>
    let written: String
    let isDefinition: Bool
}

/// One network configuration file as read for a run.
struct NetworkConfigFile: Sendable {
    let path: String
    let renderer: NetworkRenderer
    let text: String
    let attributes: FileAttributes
    var macs: [MACReference] = []
    var uuidTokens: [ConnectionUUIDToken] = []
    /// Set for udev persistent-net rules: the file is removed rather than edited.
    var isPersistentNetRules: Bool { renderer == .udevPersistentNet }
}

/// Reads a root's network configuration: every renderer's files under /etc, with the MACs they
/// match or set and the connection UUIDs they define or name.
enum NetworkConfiguration {
    /// Where each renderer keeps its files, and which names count.
    static let places: [(directory: String, renderer: NetworkRenderer, accepts: @Sendable (String) -> Bool)] = [
        ("/etc/netplan", .netplan, { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }),
        ("/etc/NetworkManager/system-connections", .networkManager, { !$0.hasSuffix("~") && !$0.hasSuffix(".bak") }),
        ("/etc/systemd/network", .networkd, { $0.hasSuffix(".network") || $0.hasSuffix(".link") || $0.hasSuffix(".netdev") }),
        ("/etc/sysconfig/network-scripts", .ifcfg, { $0.hasPrefix("ifcfg-") && !$0.hasSuffix("~") }),
        ("/etc/network", .ifupdown, { $0 == "interfaces" }),
        ("/etc/network/interfaces.d", .ifupdown, { !$0.hasSuffix("~") }),
        ("/etc/udev/rules.d", .udevPersistentNet, { $0.hasSuffix("persistent-net.rules") }),
    ]

    /// NetworkManager's state files keyed by connection UUID.
    static let networkManagerStateFiles = ["/var/lib/NetworkManager/timestamps", "/var/lib/NetworkManager/seen-bssids"]

    /// Every network configuration file of the root (with the contents earlier tasks of the run
    /// planned for it), parsed. Throws `InputError` naming the file and line for malformed files.
    static func read(in context: PlanningContext) throws -> [NetworkConfigFile] {
        var files: [NetworkConfigFile] = []
        for file in try unparsedFiles(in: context) {
            files.append(try parsed(file.path, renderer: file.renderer, text: file.text, attributes: file.attributes))
        }
        for path in networkManagerStateFiles {
            guard let status = try context.root.regularFileStatus(of: path), let text = try context.plannedText(path) else { continue }
            files.append(try parsed(path, renderer: .networkManager, text: text, attributes: FileAttributes(of: status)))
        }
        return files
    }

    /// `text`, the contents of `path`, read as `renderer` reads it; NetworkManager's state files
    /// (keyed by connection UUID) for their UUIDs only. Throws `InputError` naming the file and
    /// line for a malformed file.
    static func parsed(_ path: String, renderer: NetworkRenderer, text: String, attributes: FileAttributes) throws -> NetworkConfigFile {
        var file = NetworkConfigFile(path: path, renderer: renderer, text: text, attributes: attributes)
        if networkManagerStateFiles.contains(path) {
            file.uuidTokens = uuidTokens(in: text, definitions: [])
        } else {
            try parse(&file)
        }
        return file
    }

    /// Every renderer's file in the places above, in order, with the text the run plans for it so
    /// far, not yet parsed. Throws `InputError` for a path that is no regular file or not UTF-8 text.
    static func unparsedFiles(in context: PlanningContext) throws -> [NetworkConfigFile] {
        var files: [NetworkConfigFile] = []
        for place in places {
            for name in try context.root.directoryEntries(place.directory).sorted() where !name.hasPrefix(".") && place.accepts(name) {
                let path = RootPath.join(place.directory, name)
                guard let status = try context.root.regularFileStatus(of: path), let text = try context.plannedText(path) else { continue }
                files.append(NetworkConfigFile(path: path, renderer: place.renderer, text: text, attributes: FileAttributes(of: status)))
            }
        }
        return files
    }

    static func parse(_ file: inout NetworkConfigFile) throws {
        switch file.renderer {
        case .netplan: try NetplanFile.parse(&file)
        case .networkManager: try KeyFile.parseNetworkManager(&file)
        case .networkd: try KeyFile.parseNetworkd(&file)
        case .ifcfg: try ShellVariablesFile.parseIfcfg(&file)
        case .ifupdown: InterfacesFile.parse(&file)
        case .udevPersistentNet: PersistentNetRules.parse(&file)
        }
    }

    /// Every UUID-shaped token of `text` outside comment lines; those starting at a byte offset in
    /// `definitions` are definitions.
    static func uuidTokens(in text: String, definitions: Set<Int>) -> [ConnectionUUIDToken] {
        let bytes = Array(text.utf8)
        var tokens: [ConnectionUUIDToken] = []
        var index = 0
        var lineStart = true
        var inComment = false
        func isHex(_ byte: UInt8) -> Bool { (48...57).contains(byte) || (65...70).contains(byte) || (97...102).contains(byte) }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 10 { lineStart = true; inComment = false; index += 1; continue }
            if lineStart && (byte == 35 || byte == 59) { inComment = true }
            if byte != 32 && byte != 9 { lineStart = false }
            if !inComment, index + 36 <= bytes.count, index == 0 || !isHex(bytes[index - 1]) && bytes[index - 1] != 45 {
                var matches = true
                for offset in 0..<36 {
                    let character = bytes[index + offset]
                    if [8, 13, 18, 23].contains(offset) { if character != 45 { matches = false; break } } else if !isHex(character) { matches = false; break }
                }
                if matches && (index + 36 == bytes.count || !isHex(bytes[index + 36]) && bytes[index + 36] != 45) {
                    let written = String(decoding: bytes[index..<index + 36], as: UTF8.self)
                    tokens.append(ConnectionUUIDToken(uuid: written.lowercased(), range: index..<index + 36, written: written,
                                                      isDefinition: definitions.contains(index)))
                    index += 36
                    continue
                }
            }
            index += 1
        }
        return tokens
    }

    /// A `MACReference` for every MAC-shaped token in `value` (a slice of `line`).
    static func macs(in value: Substring, on line: ConfigLines.Line, role: MACReference.Role, interfaceName: String?,
                     setting: String) -> [MACReference] {
        value.unquoted().tokens(separatedBy: [" ", "\t", ",", ";"]).compactMap { token in
            guard let address = MACAddress(token) else { return nil }
            return MACReference(role: role, address: address, range: line.range(of: token), written: String(token),
                                interfaceName: interfaceName, setting: setting)
        }
    }
}

/// INI-style files: NetworkManager keyfiles and systemd-networkd `.network`/`.link`/`.netdev`.
enum KeyFile {
    /// One `key=value` with its section.
    struct Entry {
        let section: String
        let key: String
        let value: Substring
        let line: ConfigLines.Line
    }

    /// The entries of `text`; throws for a line that is neither a section, a key, a comment nor blank.
    static func entries(of text: String, path: String, commentCharacters: Set<Character>, fix: String) throws -> [Entry] {
        var section = ""
        var entries: [Entry] = []
        for line in ConfigLines(text).lines {
            let trimmed = line.trimmed
            guard let first = trimmed.first, !commentCharacters.contains(first) else { continue }
            if first == "[" {
                guard trimmed.last == "]" else {
                    throw InputError("\(path): line \(line.number) opens a section without closing it (\(trimmed)); \(fix)")
                }
                section = String(trimmed.dropFirst().dropLast())
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw InputError("\(path): line \(line.number) is not key=value (\(trimmed)); \(fix)")
            }
            let key = trimmed[..<equals].trimmingBlanks()
            guard !key.isEmpty else { throw InputError("\(path): line \(line.number) has no key before '='; \(fix)") }
            entries.append(Entry(section: section, key: String(key), value: trimmed[trimmed.index(after: equals)...].trimmingBlanks(), line: line))
        }
        return entries
    }

    static func parseNetworkManager(_ file: inout NetworkConfigFile) throws {
        let fix = "fix the keyfile (nmcli connection load \(file.path) shows NetworkManager's own complaint) or skip the task with --skip network-bindings"
        let entries = try entries(of: file.text, path: file.path, commentCharacters: ["#", ";"], fix: fix)
        let interfaceName = entries.first(where: { $0.section == "connection" && $0.key == "interface-name" }).map { String($0.value) }
        for entry in entries {
            let role: MACReference.Role?
            switch (entry.section, entry.key) {
            case ("ethernet", "mac-address"), ("802-3-ethernet", "mac-address"), ("wifi", "mac-address"), ("802-11-wireless", "mac-address"):
                role = .matched
            case (_, "cloned-mac-address"), ("bridge", "mac-address"):
                role = .set
            default:
                role = nil
            }
            if let role {
                file.macs += NetworkConfiguration.macs(in: entry.value, on: entry.line, role: role, interfaceName: interfaceName,
                                                       setting: "[\(entry.section)] \(entry.key)=")
            }
        }
        let definitions = Set(entries.filter { $0.section == "connection" && $0.key == "uuid" }.map { $0.line.range(of: $0.value.unquoted()).lowerBound })
        file.uuidTokens = NetworkConfiguration.uuidTokens(in: file.text, definitions: definitions)
    }

    static func parseNetworkd(_ file: inout NetworkConfigFile) throws {
        let fix = "fix the file (see systemd.network(5)) or skip the task with --skip network-bindings"
        let entries = try entries(of: file.text, path: file.path, commentCharacters: ["#", ";"], fix: fix)
        let name = entries.first(where: { ($0.section == "Match" || $0.section == "Link" || $0.section == "NetDev") && ($0.key == "Name" || $0.key == "OriginalName") })
            .flatMap { $0.value.split(separator: " ").first.map(String.init) }
        for entry in entries where entry.key == "MACAddress" || entry.key == "PermanentMACAddress" {
            let role: MACReference.Role = entry.section == "Match" ? .matched : .set
            file.macs += NetworkConfiguration.macs(in: entry.value, on: entry.line, role: role, interfaceName: name,
                                                   setting: "[\(entry.section)] \(entry.key)=")
        }
    }
}

/// Red Hat's ifcfg files: shell variable assignments.
enum ShellVariablesFile {
    static func parseIfcfg(_ file: inout NetworkConfigFile) throws {
        let lines = ConfigLines(file.text).lines
        var device: String? = file.path.split(separator: "/").last.map { String($0.dropFirst("ifcfg-".count)) }
        var assignments: [(key: Substring, value: Substring, line: ConfigLines.Line)] = []
        for line in lines {
            let trimmed = line.trimmed
            guard let first = trimmed.first, first != "#" else { continue }
            guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw InputError("\(file.path): line \(line.number) is not NAME=value (\(trimmed)); fix the file or skip the task with --skip network-bindings")
            }
            let value = trimmed[trimmed.index(after: equals)...].trimmingBlanks()
            if value.first == "\"" || value.first == "'", value.count < 2 || value.last != value.first {
                throw InputError("\(file.path): line \(line.number) has an unterminated quote; fix the file or skip the task with --skip network-bindings")
            }
            assignments.append((trimmed[..<equals], value, line))
            if trimmed[..<equals] == "DEVICE" { device = String(value.unquoted()) }
        }
        var definitions = Set<Int>()
        for assignment in assignments {
            switch assignment.key {
            case "HWADDR":
                file.macs += NetworkConfiguration.macs(in: assignment.value, on: assignment.line, role: .matched, interfaceName: device, setting: "HWADDR=")
            case "MACADDR":
                file.macs += NetworkConfiguration.macs(in: assignment.value, on: assignment.line, role: .set, interfaceName: device, setting: "MACADDR=")
            case "UUID":
                definitions.insert(assignment.line.range(of: assignment.value.unquoted()).lowerBound)
            default:
                break
            }
        }
        file.uuidTokens = NetworkConfiguration.uuidTokens(in: file.text, definitions: definitions)
    }
}

/// Debian's ifupdown `/etc/network/interfaces` (and interfaces.d): stanzas, `hwaddress` sets a MAC.
enum InterfacesFile {
    /// Words that start a new stanza.
    static let stanzaStarts: Set<Substring> = ["iface", "mapping", "auto", "source", "source-directory"]

    static func parse(_ file: inout NetworkConfigFile) {
        var interface: String?
        for line in ConfigLines(file.text).lines {
            let words = line.trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            if stanzaStarts.contains(first) || first.hasPrefix("allow-") {
                interface = first == "iface" && words.count > 1 ? String(words[1]) : nil
                continue
            }
            if first == "hwaddress", let last = words.last, words.count >= 2 {
                file.macs += NetworkConfiguration.macs(in: last, on: line, role: .set, interfaceName: interface, setting: "hwaddress")
            }
        }
    }
}

/// udev's `70-persistent-net.rules`: names pinned to the template's MACs.
enum PersistentNetRules {
    static func parse(_ file: inout NetworkConfigFile) {
        for line in ConfigLines(file.text).lines where !line.trimmed.hasPrefix("#") {
            guard let marker = line.text.firstRange(of: "ATTR{address}==\"") else { continue }
            let rest = line.text[marker.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { continue }
            var name: String?
            if let nameMarker = line.text.firstRange(of: "NAME=\"") {
                name = line.text[nameMarker.upperBound...].split(separator: "\"", maxSplits: 1).first.map(String.init)
            }
            file.macs += NetworkConfiguration.macs(in: rest[..<end], on: line, role: .matched, interfaceName: name, setting: "ATTR{address}")
        }
    }
}
