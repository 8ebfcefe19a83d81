#if canImport(Glibc)
import Glibc
#endif

/// Gives the clone its own hostname: `/etc/hostname`, `/etc/hosts`, `PRETTY_HOSTNAME` in
/// `/etc/machine-info`, and on the live system the running hostname.
///
/// The name comes from `--hostname`, else the credential `sanitize-clone.hostname`, else
/// `system.hostname` (systemd 252 imports but does not apply it), else `[Hostname] Hostname=`,
/// else `<Prefix>-<first 8 digits of the new machine-id>`, unique for each clone.
public struct HostnameTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let hostnameFile: String
        let hostsFile: String?
        let machineInfo: String?
        let attributes: [String: FileAttributes]
        let kernelName: String?
    }

    public let name = "hostname"
    public let undoKinds: [any UndoKind] = [KernelHostnameUndo()]
    public let summary = "Give the clone its own hostname in /etc/hostname, /etc/hosts and /etc/machine-info"
    public let plannedAfter = ["machine-id"]
    public let configurationKeys: [ConfigurationKey] = [
        ConfigurationKey(section: "Hostname", name: "Hostname", summary: "A fixed hostname for every clone (rarely wanted; credentials are per clone)", defaultValue: "") { value in
            (try? Hostname.validate(value, source: "configuration")) == nil ? "not a valid hostname" : nil
        },
        ConfigurationKey(section: "Hostname", name: "Prefix", summary: "The derived default is <Prefix>-<8 digits of the machine-id>", defaultValue: "clone") { value in
            (try? Hostname.validate(value + "-00000000", source: "configuration")) == nil ? "not a valid hostname prefix" : nil
        },
    ]

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let root = context.root
        let (requested, source) = try chooseName(in: context)
        try Hostname.validate(requested, source: source)
        let (newName, requestedDomain) = Hostname.split(requested)

        let oldText = try root.readText("/etc/hostname")
        let oldFull = oldText?.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.first { !$0.isEmpty && !$0.hasPrefix("#") }
        let (oldName, oldDomain) = oldFull.map(Hostname.split) ?? (nil, nil)
        // Keep the file's own style: Debian writes the short name, Fedora often the FQDN.
        let domain = requestedDomain ?? oldDomain
        let fileName = oldDomain != nil || requestedDomain != nil ? [newName, domain].compactMap { $0 }.joined(separator: ".") : newName
        context.identity.hostname = newName
        context.identity.domain = domain
        context.identity.staticHostname = fileName

        var changes: [Change] = []
        var attributes: [String: FileAttributes] = [:]
        let hostnameFile = fileName + "\n"
        if oldText != hostnameFile {
            changes.append(Change(path: "/etc/hostname", action: oldText == nil ? "create" : "write", old: oldFull ?? "(none)", new: fileName))
        }
        attributes["/etc/hostname"] = try existingAttributes("/etc/hostname", in: root)

        let oldHosts = try root.readText("/etc/hosts")
        let newHosts = HostsFile(text: oldHosts ?? "127.0.0.1\tlocalhost\n").renamed(from: oldName, to: newName, domain: domain)
        // A domain only /etc/hosts carries (Debian: "127.0.1.1 web.example.com web") is the
        // clone's too, as `hostname -f` will say.
        if context.identity.domain == nil { context.identity.domain = HostsFile(text: newHosts).domain(of: newName) }
        if newHosts != oldHosts {
            changes.append(Change(path: "/etc/hosts", action: oldHosts == nil ? "create" : "write", old: oldName, new: newName,
                                  diff: LineDiff.unified(old: oldHosts ?? "", new: newHosts, path: "/etc/hosts")))
            attributes["/etc/hosts"] = try existingAttributes("/etc/hosts", in: root)
        }

        var machineInfo: String?
        if let info = try root.readText("/etc/machine-info") {
            let rewritten = Self.settingPrettyHostname(in: info, to: fileName)
            if rewritten != info {
                machineInfo = rewritten
                changes.append(Change(path: "/etc/machine-info", action: "write", old: Self.prettyHostname(in: info), new: fileName,
                                      diff: LineDiff.unified(old: info, new: rewritten, path: "/etc/machine-info")))
                attributes["/etc/machine-info"] = try existingAttributes("/etc/machine-info", in: root)
            }
        }

        var kernelName: String?
        if root.isLiveSystem {
            let running = try System.hostname()
            if running != newName {
                kernelName = newName
                changes.append(Change(path: "kernel:hostname", action: "set-hostname", old: running, new: newName,
                                      undo: KernelHostnameUndo.record(running)))
            }
        }
        return TaskPlan(changes: changes, decision: Decision(
            hostnameFile: hostnameFile, hostsFile: newHosts != oldHosts ? newHosts : nil, machineInfo: machineInfo,
            attributes: attributes, kernelName: kernelName))
    }

    /// The requested name and where it came from, in order of precedence.
    private func chooseName(in context: PlanningContext) throws -> (String, String) {
        if let name = context.options.hostname { return (name, "--hostname") }
        if let name = context.credential("sanitize-clone.hostname") { return (name, "credential sanitize-clone.hostname") }
        if let name = context.credential("system.hostname") { return (name, "credential system.hostname") }
        let configured = context.configuration.value("Hostname", "Hostname")
        if !configured.isEmpty { return (configured, "[Hostname] Hostname=") }
        let machineID = try context.identity.machineID ?? MachineID.parse(context.root.readText("/etc/machine-id")) ?? MachineID.random()
        return ("\(context.configuration.value("Hostname", "Prefix"))-\(machineID.prefix(8))", "the machine-id")
    }

    private func existingAttributes(_ path: String, in root: RootDirectory) throws -> FileAttributes {
        try root.followedStatus(of: path).map(FileAttributes.init(of:)) ?? FileAttributes(mode: 0o644)
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        let root = context.root
        // The files in the plan's order, written together with their syncs grouped.
        var writes: [RootDirectory.FileWrite] = []
        if try root.readText("/etc/hostname") != decision.hostnameFile {
            writes.append(.init(path: "/etc/hostname", contents: Array(decision.hostnameFile.utf8), attributes: decision.attributes["/etc/hostname"]!))
        }
        if let hosts = decision.hostsFile {
            writes.append(.init(path: "/etc/hosts", contents: Array(hosts.utf8), attributes: decision.attributes["/etc/hosts"]!))
        }
        if let info = decision.machineInfo {
            writes.append(.init(path: "/etc/machine-info", contents: Array(info.utf8), attributes: decision.attributes["/etc/machine-info"]!))
        }
        try root.writeFilesAtomically(writes) { try context.changeApplied($0) }
        if let name = decision.kernelName {
            try Self.setRunningHostname(name, context: context)
            try context.changeApplied(writes.count)
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        guard try context.root.readText("/etc/hostname") == decision.hostnameFile else {
            throw VerificationError("/etc/hostname does not hold the new name")
        }
        let name = Hostname.split(decision.hostnameFile.trimmingWhitespace()).name
        let hosts = try context.root.readText("/etc/hosts") ?? ""
        guard hosts.split(whereSeparator: \.isNewline).contains(where: { HostsFile.fields(String($0)).dropFirst().contains(name) }) else {
            throw VerificationError("/etc/hosts does not name \(name)")
        }
    }

    /// Sets the running hostname: through hostnamed when the system bus runs (a manual run, so
    /// hostnamed and its clients hear of it), else — at boot, before D-Bus — with sethostname(2).
    static func setRunningHostname(_ name: String, context: ApplyContext) throws {
        if SystemBus.isAvailable {
            do {
                try HostnameService(bus: try SystemBus()).setHostname(name)
                return
            } catch {
                context.notice("hostnamed did not take the hostname (\(error)); setting it directly")
            }
        }
        try System.setHostname(name)
    }

    static func prettyHostname(in text: String) -> String? {
        text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("PRETTY_HOSTNAME=") }.map {
            String($0.dropFirst("PRETTY_HOSTNAME=".count)).trimmingCharacters(in: "\"'")
        }
    }

    /// `text` with PRETTY_HOSTNAME set to `name` when the key is present; otherwise unchanged.
    static func settingPrettyHostname(in text: String, to name: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for index in lines.indices where lines[index].hasPrefix("PRETTY_HOSTNAME=") {
            lines[index] = "PRETTY_HOSTNAME=\"\(name)\""
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    /// The string without leading and trailing characters from `set`.
    func trimmingCharacters(in set: String) -> String {
        var result = Substring(self)
        while let first = result.first, set.contains(first) { result.removeFirst() }
        while let last = result.last, set.contains(last) { result.removeLast() }
        return String(result)
    }
}

/// The undo of `set-hostname`: the running kernel's hostname set back (the running system only;
/// a no-op for any other root).
struct KernelHostnameUndo: UndoKind {
    let name = "kernel-hostname"

    static func record(_ hostname: String) -> Change.Undo { .inverse(kind: "kernel-hostname", values: [hostname]) }

    func validate(_ values: [String]) throws {
        guard values.count == 1, let name = values.first, (1...64).contains(name.utf8.count),
              name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }) else {
            throw InputError("a hostname to set back must be 1-64 printable characters")
        }
    }

    func summary(_ values: [String]) -> String { "set the running hostname back to \(values.first ?? "")" }

    func undo(_ values: [String], in context: UndoContext) throws {
        guard context.root.isLiveSystem, let name = values.first else { return }
        try System.setHostname(name)
    }
}

extension HostnameTask {
    /// The name is valid, not the template's, and /etc/hosts names it.
    public func cloneChecks(in context: VerificationContext) throws -> [CloneCheck] {
        let root = context.root
        let hostname = try root.readText("/etc/hostname")?.split(whereSeparator: \.isNewline).first.map { $0.trimmingWhitespace() } ?? ""
        var checks = [CloneCheck("hostname is valid", (try? Hostname.validate(hostname, source: "/etc/hostname")) != nil,
                                 hostname.isEmpty ? "/etc/hostname is empty" : hostname)]
        if let old = context.template?.hostname {
            checks.append(CloneCheck("hostname differs from the template's", hostname.lowercased() != old.lowercased(), "\(hostname) (template \(old))"))
        }
        let shortName = Hostname.split(hostname).name
        let hosts = try root.readText("/etc/hosts") ?? ""
        let named = hosts.split(whereSeparator: \.isNewline).contains { HostsFile.fields(String($0)).dropFirst().contains { $0.lowercased() == shortName.lowercased() } }
        checks.append(CloneCheck("hostname is in /etc/hosts", named, named ? shortName : "no line of /etc/hosts names \(shortName)"))
        return checks
    }
}
