#if canImport(Glibc)
import Glibc
#endif

/// Rebinds the network configuration from the template's NICs to the clone's.
///
/// A MAC the configuration matches (netplan `match: macaddress`, NetworkManager `mac-address=`,
/// networkd `[Match] MACAddress=`, ifcfg `HWADDR=`) that no NIC of the clone has is the template's:
/// it becomes the MAC of the clone's NIC in that NIC's place (see `MACRebinding`). A MAC the
/// configuration sets (`macaddress:`, `cloned-mac-address=`, `[Link] MACAddress=`, `MACADDR=`,
/// `hwaddress`) is never left as one every clone would set. udev's persistent-net rules, which
/// pin names to the template's MACs, are removed. NetworkManager connection UUIDs (keyfiles,
/// ifcfg `UUID=`, netplan `networkmanager.uuid`) are renewed with every reference to them.
/// Every value is replaced where it stands, in the file's own style; nothing else moves.
/// A file bound to a template MAC no NIC of the clone takes is not guessed at: it stays as it is,
/// whole, and a note names it.
public struct NetworkBindingsTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let writes: [Rewrite]
        let removals: [String]
        /// Old connection UUIDs: no file written may name one afterwards.
        let replacedUUIDs: Set<String>
        let renderers: Set<NetworkRenderer>
    }

    /// A file the task rewrites, and the MACs it replaces there: what `verify` checks.
    struct Rewrite: Sendable {
        /// The file as read.
        let file: NetworkConfigFile
        /// What it will hold.
        let contents: String
        /// The old MACs, by the role they had in this file; none may be left in that role.
        let replacedMACs: [MACReference.Role: Set<MACAddress>]
    }

    public let name = "network-bindings"
    public let summary = "Rebind MAC-bound network config to the clone's NICs; renew set MACs and NetworkManager connection UUIDs"
    public let runsAfter: [String] = []
    public var configurationKeys: [ConfigurationKey] {
        [ConfigurationKey(section: "Network", name: "Interfaces",
                          summary: "With --root: the NICs of the machine the root belongs to, NAME=MAC[,PCI-ADDRESS] separated by spaces",
                          defaultValue: "") { value in
            for entry in value.split(separator: " ") where (try? NetworkInterface(parsing: String(entry))) == nil {
                return "\(entry) is not NAME=MAC or NAME=MAC,PCI-ADDRESS"
            }
            return nil
        }]
    }

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let files = try NetworkConfiguration.read(in: context)
        var notes: [String] = []
        var rebinding: MACRebinding?
        let references = files.flatMap(\.macs)
        if let current = try context.currentInterfaces() {
            let template = try RecordedIdentity.load(from: context.root)?.template.interfaces ?? []
            rebinding = try MACRebinding(references: references, current: current, template: template)
        } else if !references.isEmpty {
            notes.append("MAC bindings left as they are: the NICs of the machine this root belongs to are unknown (give them with --nic NAME=MAC)")
        }

        // A file matching a template MAC no NIC takes is left whole: rewriting its other values
        // (a cloned MAC, its connection UUID) would half-sanitize a configuration nobody can place.
        var leftAsIs = Set<String>()
        for file in files where !file.isPersistentNetRules {
            var reasons: [String] = []
            for reference in file.macs where reference.role == .matched {
                if let reason = rebinding?.unmapped[reference.address], !reasons.contains(reason) { reasons.append(reason) }
            }
            guard !reasons.isEmpty else { continue }
            leftAsIs.insert(file.path)
            notes.append("\(file.path) stays as it is: \(reasons.joined(separator: "; ")); edit it by hand")
        }

        // New connection UUIDs for every one defined, applied to every token naming one — except
        // those a file left as it is names, which keep every reference to them consistent.
        var keptUUIDs: [String: String] = [:]
        for file in files where leftAsIs.contains(file.path) {
            for token in file.uuidTokens where keptUUIDs[token.uuid] == nil { keptUUIDs[token.uuid] = file.path }
        }
        var newUUIDs: [String: String] = [:]
        for file in files {
            for token in file.uuidTokens where token.isDefinition && newUUIDs[token.uuid] == nil {
                if let keeper = keptUUIDs[token.uuid] {
                    if keeper != file.path { notes.append("\(file.path) keeps connection UUID \(token.uuid): \(keeper), left as it is, names it") }
                } else {
                    newUUIDs[token.uuid] = try RandomBytes.uuid()
                }
            }
        }

        var changes: [Change] = []
        var writes: [Rewrite] = []
        var removals: [String] = []
        var renderers = Set<NetworkRenderer>()
        for file in files where !leftAsIs.contains(file.path) {
            var edits: [TextEdit] = []
            var olds: [String] = [], news: [String] = []
            var replacedMACs: [MACReference.Role: Set<MACAddress>] = [:]
            for reference in file.macs {
                guard let rebinding, let new = rebinding.replacement(for: reference), new != reference.address else { continue }
                edits.append(TextEdit(range: reference.range, replacement: new.written(likeStyleOf: reference.written)))
                olds.append("\(reference.setting) \(reference.address)")
                news.append("\(new)\(rebinding.reasons[reference.address].map { " (\($0))" } ?? "")")
                replacedMACs[reference.role, default: []].insert(reference.address)
            }
            for token in file.uuidTokens {
                guard let new = newUUIDs[token.uuid] else { continue }
                edits.append(TextEdit(range: token.range, replacement: token.written.contains(where: \.isUppercase) ? new.uppercased() : new))
                if token.isDefinition { olds.append("uuid \(token.uuid)"); news.append(new) }
            }
            if file.isPersistentNetRules {
                guard let rebinding, file.macs.contains(where: { rebinding.templateMACs.contains($0.address) }) else { continue }
                removals.append(file.path)
                renderers.insert(file.renderer)
                changes.append(Change(path: file.path, action: "delete", old: file.macs.map { "\($0.interfaceName ?? "?")=\($0.address)" }.joined(separator: ", "),
                                      new: nil, undo: .restorePath(followingSymlinks: false)))
                continue
            }
            guard !edits.isEmpty else { continue }
            let contents = TextEdit.apply(edits, to: file.text)
            context.planText(contents, for: file.path)
            writes.append(Rewrite(file: file, contents: contents, replacedMACs: replacedMACs))
            renderers.insert(file.renderer)
            changes.append(Change(path: file.path, action: "write", old: olds.joined(separator: ", "), new: news.isEmpty ? "references to renewed connection UUIDs" : news.joined(separator: ", "),
                                  diff: LineDiff.unified(old: file.text, new: contents, path: file.path)))
        }
        // Writes first, removals after, as apply makes them.
        changes = changes.filter { $0.action == "write" } + changes.filter { $0.action == "delete" }
        guard !changes.isEmpty else {
            if files.isEmpty { return .skip("no network configuration in this root", notes: notes) }
            if rebinding == nil {
                return .skip("the NICs of the machine this root belongs to are unknown (give them with --nic NAME=MAC) and no connection UUID to renew", notes: notes)
            }
            return .skip(leftAsIs.isEmpty ? "the network configuration names no template MAC and no connection UUID"
                                          : "nothing to change but files that stay as they are; see the notes", notes: notes)
        }
        return TaskPlan(changes: changes,
                        decision: Decision(writes: writes, removals: removals, replacedUUIDs: Set(newUUIDs.keys), renderers: renderers),
                        notes: notes)
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        let writes = decision.writes.map { RootDirectory.FileWrite(path: $0.file.path, contents: Array($0.contents.utf8), attributes: $0.file.attributes) }
        try context.root.writeFilesAtomically(writes) { index in try context.changeApplied(index) }
        for (offset, path) in decision.removals.enumerated() {
            try context.root.removeFile(path)
            try context.changeApplied(writes.count + offset)
        }
    }

    /// Checks the files the task wrote, and only those: each holds what was planned, and read
    /// again as its renderer reads it, no longer has a replaced MAC where it replaced it, nor a
    /// renewed connection UUID. Files left as they are, and the MACs they name, are not its.
    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for write in decision.writes {
            let path = write.file.path
            guard try context.root.readText(path) == write.contents else {
                throw VerificationError("\(path) does not hold the rebound configuration")
            }
            let written = try NetworkConfiguration.parsed(path, renderer: write.file.renderer, text: write.contents, attributes: write.file.attributes)
            let stale = written.macs.filter { write.replacedMACs[$0.role]?.contains($0.address) == true }
            guard stale.isEmpty else {
                throw VerificationError("\(path) still names \(stale.map { "\($0.address) (\($0.setting))" }.joined(separator: ", "))")
            }
            if let old = written.uuidTokens.first(where: { decision.replacedUUIDs.contains($0.uuid) }) {
                throw VerificationError("\(path) still names connection \(old.uuid)")
            }
        }
        for path in decision.removals where try context.root.status(of: path) != nil {
            throw VerificationError("\(path) is still there")
        }
    }

    /// On the running system, let what already read the old configuration read it again:
    /// netplan's generated files, udev's link settings, NetworkManager and systemd-networkd.
    public func afterCommit(_ decision: Decision, in context: ApplyContext) throws {
        guard context.root.isLiveSystem else { return }
        NetworkReload.afterChanging(decision.renderers, context: context)
    }
}

extension NetworkBindingsTask {
    /// Every MAC the network configuration names is one of the machine's NICs (when they are known).
    public func cloneChecks(in context: VerificationContext) throws -> [CloneCheck] {
        guard !context.interfaces.isEmpty else { return [] }
        let present = Set(context.interfaces.flatMap { [$0.mac, $0.permanentMAC] })
        return try NetworkConfigMACs.named(in: context.root).map { path, macs in
            let missing = macs.filter { !present.contains($0) }
            return CloneCheck("\(path) names only present NICs", missing.isEmpty,
                              missing.isEmpty ? macs.joined(separator: ", ") : "no NIC has \(missing.joined(separator: ", "))")
        }
    }
}
