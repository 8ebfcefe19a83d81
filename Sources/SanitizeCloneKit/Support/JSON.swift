/// A JSON value with ordered object keys, for output whose shape scripts rely on.
public indirect enum JSON: Sendable, Equatable {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case number(Int)
    case bool(Bool)
    case null

    /// A string, or null when nil.
    public static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }

    public static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.serialized() == rhs.serialized() }

    /// Compact JSON text.
    public func serialized(indent: Int? = nil, level: Int = 0) -> String {
        let newline = indent == nil ? "" : "\n"
        let pad = { (depth: Int) in String(repeating: " ", count: (indent ?? 0) * depth) }
        let colon = indent == nil ? ":" : ": "
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let value): return String(value)
        case .string(let value): return JSON.quote(value)
        case .array(let values):
            if values.isEmpty { return "[]" }
            let items = values.map { pad(level + 1) + $0.serialized(indent: indent, level: level + 1) }
            return "[" + newline + items.joined(separator: "," + newline) + newline + pad(level) + "]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            let items = members.map { pad(level + 1) + JSON.quote($0.0) + colon + $0.1.serialized(indent: indent, level: level + 1) }
            return "{" + newline + items.joined(separator: "," + newline) + newline + pad(level) + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
