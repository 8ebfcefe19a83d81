@testable import SanitizeCloneKit

/// The netplan reader (`YAMLDocument`) and editor (`YAMLEdits`) on their own: the input is parsed,
/// then each kind of edit is made to every node it applies to, one kind per pass (so no two
/// edits of a pass touch the same bytes), and applied — which parses the result again.
enum YAMLEditFuzzing {
    /// Values chosen to need each kind of quoting, and none.
    static let values = ["52:54:00:bb:00:01", "true", "", "a: b", "#x", "it's", "two\nlines", "[x]", "- y", "1500", "é ü"]

    static func feed(_ bytes: [UInt8]) {
        guard let text = FuzzInput.text(bytes), let document = try? YAMLDocument(parsing: text), let root = document.root else { return }
        _ = document.node(at: ["network", "ethernets", 0, "match", "macaddress"])
        var scalars: [YAMLNode] = [], sequences: [YAMLNode] = [], mappingsByDepth: [[YAMLNode]] = []
        collect(root, depth: 0, scalars: &scalars, sequences: &sequences, mappingsByDepth: &mappingsByDepth)

        var edits = YAMLEdits(document: document)
        for (number, scalar) in scalars.enumerated() { edits.replaceScalar(scalar, with: values[number % values.count]) }
        _ = try? edits.apply()

        edits = YAMLEdits(document: document)
        for (number, scalar) in scalars.enumerated() { edits.replaceScalar(scalar, with: number % 2 == 0) }
        _ = try? edits.apply()

        edits = YAMLEdits(document: document)
        for (number, sequence) in sequences.enumerated() {
            edits.replaceSequence(sequence, with: number % 3 == 0 ? [] : Array(values.prefix(number % values.count + 1)))
        }
        _ = try? edits.apply()

        for mappings in mappingsByDepth {
            var removingLast = YAMLEdits(document: document)
            var emptying = YAMLEdits(document: document)
            for (number, mapping) in mappings.enumerated() {
                if let last = mapping.keys.last { removingLast.removeEntry(key: last, from: mapping) }
                removingLast.addEntry(key: "dhcp4", boolean: true, to: mapping)
                removingLast.addEntry(key: "fuzz-\(number)", scalar: values[number % values.count], to: mapping)
                removingLast.addEntry(key: "addresses-\(number)", sequence: Array(values.prefix(number % 3)), to: mapping)
                for key in mapping.keys { emptying.removeEntry(key: key, from: mapping) }
            }
            _ = try? removingLast.apply()
            _ = try? emptying.apply()
        }
    }

    /// The scalar values (not keys), the outermost sequences and the mappings of `node`, the
    /// mappings by depth (mappings of one depth never hold each other), at most 4 deep.
    static func collect(_ node: YAMLNode, depth: Int, scalars: inout [YAMLNode], sequences: inout [YAMLNode],
                        mappingsByDepth: inout [[YAMLNode]], insideSequence: Bool = false) {
        switch node.kind {
        case .scalar:
            scalars.append(node)
        case .sequence:
            if !insideSequence { sequences.append(node) }
            for item in node.items {
                collect(item, depth: depth + 1, scalars: &scalars, sequences: &sequences, mappingsByDepth: &mappingsByDepth, insideSequence: true)
            }
        case .mapping:
            if depth < 4 {
                while mappingsByDepth.count <= depth { mappingsByDepth.append([]) }
                mappingsByDepth[depth].append(node)
            }
            for entry in node.entries {
                collect(entry.value, depth: depth + 1, scalars: &scalars, sequences: &sequences, mappingsByDepth: &mappingsByDepth,
                        insideSequence: insideSequence)
            }
        }
    }
}
