import Foundation
@testable import SanitizeCloneKit
import Testing

/// A netplan file as an installer and an admin leave it: comments at the head, after values,
/// between entries and inside nested blocks; block and flow lists; quoted and plain MACs.
private let netplan = """
# Written by the installer; edit with care.
network:
  version: 2   # netplan schema
  renderer: networkd

  ethernets:
    # the uplink
    eth0:
      match:
        macaddress: 52:54:00:12:34:56  # template NIC
      set-name: eth0
      addresses:
        - 10.0.0.5/24     # primary
        # the secondary comes next
        - 10.0.0.6/24
      gateway4: 10.0.0.1
      nameservers:
        addresses: [10.0.0.53, "1.1.1.1"]
        search: [example.com]
      routes:
        - to: default
          via: 10.0.0.1
        - to: 192.168.0.0/16
          via: 10.0.0.254   # the lab
          metric: 100
    eth1:
      match: {macaddress: "52:54:00:ab:cd:ef"}
      dhcp4: no

"""

/// The UTF-8 byte range of the `occurrence`th (1-based) `needle` in `text`.
private func byteRange(of needle: String, in text: String, occurrence: Int = 1) -> Range<Int>? {
    let haystack = Array(text.utf8)
    let pattern = Array(needle.utf8)
    var seen = 0
    guard !pattern.isEmpty, haystack.count >= pattern.count else { return nil }
    for start in 0...(haystack.count - pattern.count) where haystack[start..<start + pattern.count].elementsEqual(pattern) {
        seen += 1
        if seen == occurrence { return start..<start + pattern.count }
    }
    return nil
}

/// Parses `text`, lets `edit` describe edits, applies them and checks the result parses again.
private func edited(_ text: String, sourceLocation: SourceLocation = #_sourceLocation,
                    _ edit: (YAMLDocument, inout YAMLEdits) throws -> Void) throws -> String {
    let document = try YAMLDocument(parsing: text)
    var edits = YAMLEdits(document: document)
    try edit(document, &edits)
    let result = try edits.apply()
    #expect(throws: Never.self, "the edited text parses again", sourceLocation: sourceLocation) { try YAMLDocument(parsing: result) }
    return result
}

/// The scalar at `path` in `text`, read back by a fresh parse.
private func scalar(at path: [YAMLPathComponent], in text: String) throws -> String? {
    try YAMLDocument(parsing: text).node(at: path)?.scalar
}

private let eth0: [YAMLPathComponent] = ["network", "ethernets", "eth0"]
private let eth1: [YAMLPathComponent] = ["network", "ethernets", "eth1"]

@Suite("YAMLDocument reads netplan files")
struct YAMLDocumentParsingTests {
    @Test("finds match: macaddress by path, at its exact bytes, line and column")
    func macAddressByPath() throws {
        let document = try YAMLDocument(parsing: netplan)
        let mac = try #require(document.node(at: eth0 + ["match", "macaddress"]))
        #expect(mac.kind == .scalar)
        #expect(mac.style == .plain)
        #expect(mac.scalar == "52:54:00:12:34:56")
        #expect(mac.range == byteRange(of: "52:54:00:12:34:56", in: netplan))
        #expect(mac.line == 10)
        #expect(mac.column == 21)
        #expect(Array(netplan.utf8)[mac.range].elementsEqual("52:54:00:12:34:56".utf8))
    }

    @Test("comments anywhere are not values, and keys keep their order")
    func commentsAreSkipped() throws {
        let document = try YAMLDocument(parsing: netplan)
        #expect(document.node(at: ["network", "version"])?.scalar == "2")
        #expect(document.node(at: ["network", "renderer"])?.scalar == "networkd")
        #expect(document.root?.keys == ["network"])
        #expect(document.node(at: ["network"])?.keys == ["version", "renderer", "ethernets"])
        #expect(document.node(at: eth0)?.keys == ["match", "set-name", "addresses", "gateway4", "nameservers", "routes"])
        #expect(document.node(at: eth0 + ["routes", 1, "via"])?.scalar == "10.0.0.254")
    }

    @Test("block and flow sequences, with plain and quoted items")
    func sequences() throws {
        let document = try YAMLDocument(parsing: netplan)
        let addresses = try #require(document.node(at: eth0 + ["addresses"]))
        #expect(addresses.kind == .sequence)
        #expect(addresses.style == .block)
        #expect(addresses.items.map(\.scalar) == ["10.0.0.5/24", "10.0.0.6/24"])
        #expect(addresses.line == 13 && addresses.column == 9)
        #expect(addresses.range == byteRange(of: "- 10.0.0.5/24     # primary\n        # the secondary comes next\n        - 10.0.0.6/24", in: netplan))

        let servers = try #require(document.node(at: eth0 + ["nameservers", "addresses"]))
        #expect(servers.style == .flow)
        #expect(servers.items.map(\.scalar) == ["10.0.0.53", "1.1.1.1"])
        #expect(servers.items.map(\.style) == [.plain, .doubleQuoted])
        #expect(servers.range == byteRange(of: "[10.0.0.53, \"1.1.1.1\"]", in: netplan))
        #expect(servers.items[1].range == byteRange(of: "\"1.1.1.1\"", in: netplan), "a quoted scalar's range includes its quotes")
    }

    @Test("a sequence of mappings: routes with to, via and metric")
    func routes() throws {
        let document = try YAMLDocument(parsing: netplan)
        let routes = try #require(document.node(at: eth0 + ["routes"]))
        #expect(routes.items.count == 2)
        #expect(routes.items.map { $0.kind } == [.mapping, .mapping])
        #expect(routes.items[0].keys == ["to", "via"])
        #expect(routes.items[1].keys == ["to", "via", "metric"])
        #expect(document.node(at: eth0 + ["routes", 1, "metric"])?.scalar == "100")
        #expect(routes.items[1].column == 11, "a mapping inside '- ' starts at its first key")
        #expect(routes.items[1].range == byteRange(of: "to: 192.168.0.0/16\n          via: 10.0.0.254   # the lab\n          metric: 100", in: netplan))
        #expect(document.node(at: eth0 + ["routes", 2]) == nil)
        #expect(document.node(at: eth0 + ["routes", "to"]) == nil, "a key does not index a sequence")
    }

    @Test("quoted scalars and quoted keys resolve their quotes and escapes")
    func quotedScalars() throws {
        let text = #"""
        "double key": "a \"b\" c\\d\n\t\x41\u00e9"
        'single key': 'it''s # not a comment'
        plain: it's fine
        mac: '52:54:00:12:34:56'

        """#
        let document = try YAMLDocument(parsing: text)
        #expect(document.root?.keys == ["double key", "single key", "plain", "mac"])
        #expect(document.node(at: ["double key"])?.scalar == "a \"b\" c\\d\n\tAé")
        #expect(document.node(at: ["double key"])?.style == .doubleQuoted)
        #expect(document.node(at: ["single key"])?.scalar == "it's # not a comment")
        #expect(document.node(at: ["single key"])?.style == .singleQuoted)
        #expect(document.node(at: ["plain"])?.scalar == "it's fine")
        #expect(document.node(at: ["mac"])?.range == byteRange(of: "'52:54:00:12:34:56'", in: text))
        #expect(document.root?.entries[0].key.style == .doubleQuoted)
    }

    @Test("nested flow collections, across lines and with comments")
    func nestedFlow() throws {
        let text = """
        a: {x: 1, y: [p, "q", {r: s}], z: {}}
        b: [one,   # first
            two,
          ]
        c: {"k":v, w}

        """
        let document = try YAMLDocument(parsing: text)
        let a = try #require(document.node(at: ["a"]))
        #expect(a.kind == .mapping && a.style == .flow)
        #expect(a.keys == ["x", "y", "z"])
        #expect(document.node(at: ["a", "y", 1])?.scalar == "q")
        #expect(document.node(at: ["a", "y", 2, "r"])?.scalar == "s")
        #expect(document.node(at: ["a", "z"])?.kind == .mapping)
        #expect(document.node(at: ["a", "z"])?.entries.isEmpty == true)
        #expect(a.range == byteRange(of: "{x: 1, y: [p, \"q\", {r: s}], z: {}}", in: text))
        #expect(document.node(at: ["b"])?.items.map(\.scalar) == ["one", "two"])
        #expect(document.node(at: ["c", "k"])?.scalar == "v", "a quoted key may touch its ':'")
        #expect(document.node(at: ["c", "w"])?.isNull == true, "a key without ':' in { } has a null value")
    }

    @Test("a key with nothing after it is null, placed right after its colon")
    func nullValues() throws {
        let text = "a:\nb: ~   # tilde\nc: null\nd: \"null\"\ne:\n  - \nf: x\n"
        let document = try YAMLDocument(parsing: text)
        let a = try #require(document.node(at: ["a"]))
        #expect(a.isNull && a.kind == .scalar && a.scalar == nil)
        #expect(a.range == 2..<2)
        #expect(a.line == 1 && a.column == 3)
        #expect(document.node(at: ["b"])?.isNull == true)
        #expect(document.node(at: ["b"])?.range == byteRange(of: "~", in: text))
        #expect(document.node(at: ["c"])?.isNull == true)
        #expect(document.node(at: ["d"])?.scalar == "null", "a quoted null is a string")
        #expect(document.node(at: ["e", 0])?.isNull == true)
        #expect(document.node(at: ["f"])?.scalar == "x")
    }

    @Test("'#' starts a comment only after a space or a closing quote or bracket")
    func hashInsidePlainScalars() throws {
        let text = "url: http://example.com/#frag # a comment\nchannel: a#b\nquoted: \"x\"# as libyaml reads it\nlist: [a]#\n"
        let document = try YAMLDocument(parsing: text)
        #expect(document.node(at: ["quoted"])?.scalar == "x")
        #expect(document.node(at: ["list"])?.items.map(\.scalar) == ["a"])
        #expect(document.node(at: ["url"])?.scalar == "http://example.com/#frag")
        #expect(document.node(at: ["url"])?.range == byteRange(of: "http://example.com/#frag", in: text))
        #expect(document.node(at: ["channel"])?.scalar == "a#b")
    }

    @Test("a leading '---', a trailing '...' and empty documents")
    func documentMarkers() throws {
        let marked = try YAMLDocument(parsing: "# head\n--- # start\nnetwork:\n  version: 2\n...\n# tail\n")
        #expect(marked.node(at: ["network", "version"])?.scalar == "2")
        #expect(try YAMLDocument(parsing: "").root == nil)
        #expect(try YAMLDocument(parsing: "# only a comment\n\n   \n").root == nil)
        #expect(try YAMLDocument(parsing: "---\n").root == nil)
        #expect(try YAMLDocument(parsing: "network: {}").node(at: ["network"])?.kind == .mapping, "no final newline")
    }

    @Test("any consistent indentation, and a sequence at its key's indentation")
    func indentationStyles() throws {
        let text = """
        network:
            ethernets:
                eth0:
                    addresses:
                    - 10.0.0.5/24
                    - 10.0.0.6/24
                    dhcp4: false

        """
        let document = try YAMLDocument(parsing: text)
        let interface: [YAMLPathComponent] = ["network", "ethernets", "eth0"]
        #expect(document.node(at: interface + ["addresses"])?.items.map(\.scalar) == ["10.0.0.5/24", "10.0.0.6/24"])
        #expect(document.node(at: interface + ["dhcp4"])?.scalar == "false")
        #expect(document.node(at: interface)?.column == 13)
    }

    @Test("a root sequence, and sequences nested in sequences")
    func nestedSequences() throws {
        let document = try YAMLDocument(parsing: "- - a\n  - b\n- c\n-\n  d: e\n")
        #expect(document.root?.kind == .sequence)
        #expect(document.node(at: [0])?.items.map(\.scalar) == ["a", "b"])
        #expect(document.node(at: [1])?.scalar == "c")
        #expect(document.node(at: [2, "d"])?.scalar == "e")
    }
}

@Suite("YAMLDocument refuses what netplan never writes")
struct YAMLDocumentErrorTests {
    struct Malformed: Sendable, CustomTestStringConvertible {
        let words: String
        let text: String
        let line: Int
        let column: Int
        let message: String
        var testDescription: String { words }
    }

    static let cases = [
        Malformed(words: "a tab used for indentation", text: "network:\n\tversion: 2\n", line: 2, column: 1, message: "tab character used for indentation"),
        Malformed(words: "an unterminated double quote", text: "a: 1\nb: \"abc\nc: 2\n", line: 2, column: 4, message: "unterminated double-quoted value"),
        Malformed(words: "an unterminated single quote", text: "a: 'abc\n", line: 1, column: 4, message: "unterminated single-quoted value"),
        Malformed(words: "a '[' never closed before the next key",
                  text: "network:\n  ethernets:\n    eth0:\n      addresses: [10.0.0.5/24, 10.0.0.6/24\n      gateway4: 10.0.0.1\n",
                  line: 4, column: 18, message: "unterminated flow sequence (missing ']' before line 5)"),
        Malformed(words: "a '[' never closed before the end", text: "a: 1\nb: [x, y", line: 2, column: 4, message: "unterminated flow sequence"),
        Malformed(words: "a '{' never closed", text: "a: {x: 1,\n", line: 1, column: 4, message: "unterminated flow mapping"),
        Malformed(words: "a duplicate key", text: "eth0:\n  dhcp4: true\n  dhcp4: false\n", line: 3, column: 3, message: "duplicate key 'dhcp4' (first used on line 2)"),
        Malformed(words: "a duplicate key in { }", text: "a: {x: 1, x: 2}\n", line: 1, column: 11, message: "duplicate key 'x'"),
        Malformed(words: "a key indented deeper than its siblings", text: "network:\n  version: 2\n   renderer: networkd\n", line: 3, column: 4, message: "bad indentation"),
        Malformed(words: "a key indented between two levels", text: "a:\n    b: 1\n  c: 2\n", line: 3, column: 3, message: "bad indentation"),
        Malformed(words: "an alias", text: "a: 1\nb: *x\n", line: 2, column: 4, message: "aliases ('*') are not supported"),
        Malformed(words: "an anchor", text: "a: &x 1\n", line: 1, column: 4, message: "anchors ('&') are not supported"),
        Malformed(words: "a tag", text: "a: !!str 1\n", line: 1, column: 4, message: "tags ('!') are not supported"),
        Malformed(words: "a block scalar", text: "a: |\n  text\n", line: 1, column: 4, message: "block scalars"),
        Malformed(words: "a second document", text: "a: 1\n---\nb: 2\n", line: 2, column: 1, message: "a second document"),
        Malformed(words: "two 'key: value' on one line", text: "a: b: c\n", line: 1, column: 5, message: "unexpected ': '"),
        Malformed(words: "a sequence on its key's line", text: "a: - x\n", line: 1, column: 4, message: "a sequence cannot start on the line of its key"),
        Malformed(words: "a line without ':' in a mapping", text: "a: 1\nb\n", line: 2, column: 1, message: "expected 'key: value'"),
        Malformed(words: "an item where a key belongs", text: "a: 1\n- x\n", line: 2, column: 1, message: "a sequence item ('- ')"),
        Malformed(words: "a missing ',' in [ ]", text: "a: [\"x\" y]\n", line: 1, column: 9, message: "expected ',' or ']'"),
        Malformed(words: "an unknown escape", text: "a: \"\\q\"\n", line: 1, column: 5, message: "unknown escape '\\q'"),
        Malformed(words: "text after a quoted value", text: "a: \"x\" y\n", line: 1, column: 8, message: "unexpected text after the value"),
        Malformed(words: "a plain value continued on a second line", text: "a:\n  - one\n    two\n", line: 3, column: 5, message: "a value continued on a second line is not supported"),
        Malformed(words: "a '?' key inside { }", text: "a: {?b: 1}\n", line: 1, column: 5, message: "explicit keys"),
        Malformed(words: "no space after ':' in { }", text: "a: {b:[c]}\n", line: 1, column: 7, message: "put a space after ':'"),
        Malformed(words: "a line indented less than the first", text: "  a: 1\nb: 2\n", line: 2, column: 1, message: "bad indentation: the document's first line is at column 3"),
        Malformed(words: "a key after a top-level sequence", text: "- a\nb: 2\n", line: 2, column: 1, message: "expected a '- ' item"),
        Malformed(words: "content after '...'", text: "a: 1\n...\nb: 2\n", line: 3, column: 1, message: "content after the document end marker"),
        Malformed(words: "a directive", text: "%YAML 1.2\n---\na: 1\n", line: 1, column: 1, message: "directives"),
    ]

    @Test("malformed YAML fails at the right line and column", arguments: cases)
    func malformed(_ malformed: Malformed) {
        #expect {
            try YAMLDocument(parsing: malformed.text)
        } throws: { error in
            guard let error = error as? YAMLSyntaxError else { return false }
            #expect(error.line == malformed.line, "\(error)")
            #expect(error.column == malformed.column, "\(error)")
            #expect(error.message.contains(malformed.message), "\(error)")
            return true
        }
    }

    @Test("the description reads 'line L, column C: message'")
    func description() throws {
        #expect(YAMLSyntaxError(line: 7, column: 5, message: "unterminated flow sequence").description == "line 7, column 5: unterminated flow sequence")
        do {
            _ = try YAMLDocument(parsing: "a: 1\nb: [x\n")
            Issue.record("an unterminated '[' parsed")
        } catch {
            #expect(error.description == "line 2, column 4: unterminated flow sequence (missing ']')")
        }
    }
}

@Suite("YAMLEdits change values in place")
struct YAMLDocumentEditingTests {
    @Test("replacing a MAC keeps every other byte")
    func replaceMAC() throws {
        let result = try edited(netplan) { document, edits in
            edits.replaceScalar(try #require(document.node(at: eth0 + ["match", "macaddress"])), with: "52:54:00:aa:bb:cc")
        }
        #expect(result == netplan.replacingOccurrences(of: "52:54:00:12:34:56", with: "52:54:00:aa:bb:cc"))
        #expect(try scalar(at: eth0 + ["match", "macaddress"], in: result) == "52:54:00:aa:bb:cc")
    }

    @Test("quoted MACs keep their quotes", arguments: ["\"", "'"])
    func quotedMAC(_ quote: String) throws {
        let text = "eth0:\n  match:\n    macaddress: \(quote)52:54:00:12:34:56\(quote) # old\n  set-name: lan\n"
        let result = try edited(text) { document, edits in
            edits.replaceScalar(try #require(document.node(at: ["eth0", "match", "macaddress"])), with: "52:54:00:aa:bb:cc")
        }
        #expect(result == "eth0:\n  match:\n    macaddress: \(quote)52:54:00:aa:bb:cc\(quote) # old\n  set-name: lan\n")
        #expect(try scalar(at: ["eth0", "match", "macaddress"], in: result) == "52:54:00:aa:bb:cc")
    }

    @Test("a MAC inside { } is replaced in place")
    func macInFlowMapping() throws {
        let result = try edited(netplan) { document, edits in
            edits.replaceScalar(try #require(document.node(at: eth1 + ["match", "macaddress"])), with: "52:54:00:00:00:01")
        }
        #expect(result == netplan.replacingOccurrences(of: "{macaddress: \"52:54:00:ab:cd:ef\"}", with: "{macaddress: \"52:54:00:00:00:01\"}"))
    }

    @Test("a flow addresses list stays flow, quoted like its first item")
    func replaceFlowSequence() throws {
        let plainFirst = try edited(netplan) { document, edits in
            edits.replaceSequence(try #require(document.node(at: eth0 + ["nameservers", "addresses"])), with: ["10.1.0.53", "9.9.9.9"])
        }
        #expect(plainFirst == netplan.replacingOccurrences(of: "[10.0.0.53, \"1.1.1.1\"]", with: "[10.1.0.53, 9.9.9.9]"))
        #expect(try YAMLDocument(parsing: plainFirst).node(at: eth0 + ["nameservers", "addresses"])?.items.map(\.scalar) == ["10.1.0.53", "9.9.9.9"])

        let quotedFirst = try edited("dns: ['a', b]  # keep\n") { document, edits in
            edits.replaceSequence(try #require(document.node(at: ["dns"])), with: ["x", "it's", "y,z"])
        }
        #expect(quotedFirst == "dns: ['x', 'it''s', 'y,z']  # keep\n")

        let emptied = try edited("dns: [a, b]\n") { document, edits in
            edits.replaceSequence(try #require(document.node(at: ["dns"])), with: [])
        }
        #expect(emptied == "dns: []\n")
    }

    @Test("a block addresses list keeps its '- ' items at their indentation")
    func replaceBlockSequence() throws {
        let result = try edited(netplan) { document, edits in
            edits.replaceSequence(try #require(document.node(at: eth0 + ["addresses"])), with: ["10.9.0.5/24", "10.9.0.6/24", "10.9.0.7/24"])
        }
        let expected = netplan.replacingOccurrences(of: """
                - 10.0.0.5/24     # primary
                # the secondary comes next
                - 10.0.0.6/24
        """, with: """
                - 10.9.0.5/24
                - 10.9.0.6/24
                - 10.9.0.7/24
        """)
        #expect(expected != netplan)
        #expect(result == expected)
        #expect(try YAMLDocument(parsing: result).node(at: eth0 + ["addresses"])?.items.map(\.scalar) == ["10.9.0.5/24", "10.9.0.6/24", "10.9.0.7/24"])
    }

    @Test("an emptied block list becomes [] after its key, its comment kept")
    func emptyBlockSequence() throws {
        let text = "eth0:\n  addresses:   # static\n    - 10.0.0.5/24\n    - 10.0.0.6/24  # second\n  dhcp4: false\n"
        let result = try edited(text) { document, edits in
            edits.replaceSequence(try #require(document.node(at: ["eth0", "addresses"])), with: [])
        }
        #expect(result == "eth0:\n  addresses: []   # static\n  dhcp4: false\n")
        #expect(try YAMLDocument(parsing: result).node(at: ["eth0", "addresses"])?.items.isEmpty == true)
    }

    @Test("removing addresses in the middle of an interface takes its lines and the comments inside it")
    func removeBlockEntry() throws {
        let result = try edited(netplan) { document, edits in
            edits.removeEntry(key: "addresses", from: try #require(document.node(at: eth0)))
        }
        let expected = netplan.replacingOccurrences(of: """
              addresses:
                - 10.0.0.5/24     # primary
                # the secondary comes next
                - 10.0.0.6/24

        """, with: "")
        #expect(expected != netplan)
        #expect(result == expected)
        #expect(try YAMLDocument(parsing: result).node(at: eth0)?.keys == ["match", "set-name", "gateway4", "nameservers", "routes"])
    }

    @Test("a comment line before a removed entry stays")
    func removeKeepsCommentBefore() throws {
        let text = "eth0:\n  dhcp4: true\n  # the gateway\n  gateway4: 10.0.0.1 # old\n  mtu: 1500\n"
        let result = try edited(text) { document, edits in
            edits.removeEntry(key: "gateway4", from: try #require(document.node(at: ["eth0"])))
            edits.removeEntry(key: "absent", from: try #require(document.node(at: ["eth0"])))
        }
        #expect(result == "eth0:\n  dhcp4: true\n  # the gateway\n  mtu: 1500\n")
    }

    @Test("adding dhcp4: true goes after the last entry and its nested block, at the mapping's indentation")
    func addBoolean() throws {
        let result = try edited(netplan) { document, edits in
            edits.addEntry(key: "dhcp4", boolean: true, to: try #require(document.node(at: eth0)))
        }
        let expected = netplan.replacingOccurrences(of: "          metric: 100\n", with: "          metric: 100\n      dhcp4: true\n")
        #expect(result == expected)
        #expect(try scalar(at: eth0 + ["dhcp4"], in: result) == "true")
    }

    @Test("replacing a boolean keeps it unquoted; replacing a string with a word that reads as a boolean quotes it")
    func booleansStayBooleans() throws {
        let result = try edited(netplan) { document, edits in
            edits.replaceScalar(try #require(document.node(at: eth1 + ["dhcp4"])), with: "true")
            edits.replaceScalar(try #require(document.node(at: eth0 + ["set-name"])), with: "yes")
            edits.replaceScalar(try #require(document.node(at: ["network", "version"])), with: "3")
        }
        #expect(result == netplan.replacingOccurrences(of: "dhcp4: no", with: "dhcp4: true")
            .replacingOccurrences(of: "set-name: eth0", with: "set-name: \"yes\"")
            .replacingOccurrences(of: "version: 2 ", with: "version: 3 "))
        #expect(try scalar(at: eth0 + ["set-name"], in: result) == "yes")

        let bool = try edited("a: \"off\"\nb: no\n") { document, edits in
            edits.replaceScalar(try #require(document.node(at: ["a"])), with: true)
            edits.replaceScalar(try #require(document.node(at: ["b"])), with: false)
        }
        #expect(bool == "a: true\nb: false\n")
    }

    @Test("a null value gets its new value after the colon")
    func replaceNull() throws {
        let result = try edited("eth0:\n  gateway4:   # to fill\n  mtu: ~\n  dns: {a}\n") { document, edits in
            edits.replaceScalar(try #require(document.node(at: ["eth0", "gateway4"])), with: "10.0.0.1")
            edits.replaceScalar(try #require(document.node(at: ["eth0", "mtu"])), with: "1500")
            edits.replaceScalar(try #require(document.node(at: ["eth0", "dns", "a"])), with: "b")
        }
        #expect(result == "eth0:\n  gateway4: 10.0.0.1   # to fill\n  mtu: 1500\n  dns: {a: b}\n")
    }

    @Test("added strings are quoted only when they must be")
    func addScalarQuoting() throws {
        let result = try edited("eth0:\n  dhcp4: false\n") { document, edits in
            let interface = try #require(document.node(at: ["eth0"]))
            edits.addEntry(key: "macaddress", scalar: "52:54:00:12:34:56", to: interface)
            edits.addEntry(key: "address", scalar: "10.0.0.5/24", to: interface)
            edits.addEntry(key: "word", scalar: "true", to: interface)
            edits.addEntry(key: "number", scalar: "1500", to: interface)
            edits.addEntry(key: "colon", scalar: "a: b", to: interface)
            edits.addEntry(key: "empty", scalar: "", to: interface)
            edits.addEntry(key: "quote", scalar: "say \"hi\"\n", to: interface)
        }
        #expect(result == """
        eth0:
          dhcp4: false
          macaddress: 52:54:00:12:34:56
          address: 10.0.0.5/24
          word: "true"
          number: "1500"
          colon: "a: b"
          empty: ""
          quote: "say \\"hi\\"\\n"

        """)
        let document = try YAMLDocument(parsing: result)
        #expect(document.node(at: ["eth0", "word"])?.scalar == "true")
        #expect(document.node(at: ["eth0", "quote"])?.scalar == "say \"hi\"\n")
        #expect(document.node(at: ["eth0", "empty"])?.scalar == "")
    }

    @Test("adding a list: block under a block mapping, flow inside { }")
    func addSequence() throws {
        let result = try edited(netplan) { document, edits in
            edits.addEntry(key: "addresses", sequence: ["10.0.1.5/24", "fd00::5/64"], to: try #require(document.node(at: eth1)))
            edits.addEntry(key: "name", scalar: "en*", to: try #require(document.node(at: eth1 + ["match"])))
            edits.addEntry(key: "routes", sequence: [], to: try #require(document.node(at: eth1)))
        }
        let expected = netplan
            .replacingOccurrences(of: "{macaddress: \"52:54:00:ab:cd:ef\"}", with: "{macaddress: \"52:54:00:ab:cd:ef\", name: en*}")
            .replacingOccurrences(of: "      dhcp4: no\n", with: "      dhcp4: no\n      addresses:\n        - 10.0.1.5/24\n        - fd00::5/64\n      routes: []\n")
        #expect(result == expected)
        let document = try YAMLDocument(parsing: result)
        #expect(document.node(at: eth1 + ["addresses"])?.items.map(\.scalar) == ["10.0.1.5/24", "fd00::5/64"])
        #expect(document.node(at: eth1 + ["match", "name"])?.scalar == "en*")
    }

    @Test("a list added where sequences sit at their key's indentation follows that style")
    func addSequenceCompact() throws {
        let result = try edited("eth0:\n  dns:\n  - a\n  dhcp4: no\n") { document, edits in
            edits.addEntry(key: "addresses", sequence: ["10.0.0.5/24"], to: try #require(document.node(at: ["eth0"])))
        }
        #expect(result == "eth0:\n  dns:\n  - a\n  dhcp4: no\n  addresses:\n  - 10.0.0.5/24\n")
    }

    @Test("removing the first key of a '- ' route moves the next key up into its place")
    func removeFirstKeyOfRoute() throws {
        let result = try edited(netplan) { document, edits in
            edits.removeEntry(key: "to", from: try #require(document.node(at: eth0 + ["routes", 1])))
            edits.removeEntry(key: "metric", from: try #require(document.node(at: eth0 + ["routes", 1])))
            edits.replaceScalar(try #require(document.node(at: eth0 + ["routes", 0, "via"])), with: "10.0.0.254")
        }
        let expected = netplan
            .replacingOccurrences(of: "        - to: 192.168.0.0/16\n          via: 10.0.0.254   # the lab\n          metric: 100\n",
                                  with: "        - via: 10.0.0.254   # the lab\n")
            .replacingOccurrences(of: "          via: 10.0.0.1\n", with: "          via: 10.0.0.254\n")
        #expect(result == expected)
        #expect(try YAMLDocument(parsing: result).node(at: eth0 + ["routes", 1])?.keys == ["via"])
    }

    @Test("a block mapping that loses every entry becomes {}")
    func removeOnlyEntry() throws {
        let result = try edited("eth0:\n  match:   # which NIC\n    # by MAC\n    macaddress: 52:54:00:12:34:56\n  mtu: 1500\n") { document, edits in
            edits.removeEntry(key: "macaddress", from: try #require(document.node(at: ["eth0", "match"])))
        }
        #expect(result == "eth0:\n  match: {}   # which NIC\n  mtu: 1500\n")

        let route = try edited("routes:\n  - to: default\n    via: 10.0.0.1\n  - to: x\n") { document, edits in
            let first = try #require(document.node(at: ["routes", 0]))
            edits.removeEntry(key: "to", from: first)
            edits.removeEntry(key: "via", from: first)
        }
        #expect(route == "routes:\n  - {}\n  - to: x\n")
    }

    @Test("removing every entry and adding one leaves just the new entry")
    func removeAllThenAdd() throws {
        let text = "ethernets:\n  eth0:\n    addresses: [10.0.0.5/24]\n    gateway4: 10.0.0.1\n  eth1: {}\n"
        let result = try edited(text) { document, edits in
            let interface = try #require(document.node(at: ["ethernets", "eth0"]))
            edits.removeEntry(key: "addresses", from: interface)
            edits.removeEntry(key: "gateway4", from: interface)
            edits.addEntry(key: "dhcp4", boolean: true, to: interface)
        }
        #expect(result == "ethernets:\n  eth0:\n    dhcp4: true\n  eth1: {}\n")

        let single = try edited("eth0:\n  addresses: [10.0.0.5/24]\n") { document, edits in
            let interface = try #require(document.node(at: ["eth0"]))
            edits.addEntry(key: "dhcp4", boolean: true, to: interface)
            edits.removeEntry(key: "addresses", from: interface)
        }
        #expect(single == "eth0:\n  dhcp4: true\n")
    }

    @Test("entries added to a nested mapping and to the one holding it land in nesting order")
    func nestedAdditions() throws {
        let result = try edited("eth0:\n  match:\n    name: en0") { document, edits in
            edits.addEntry(key: "dhcp4", boolean: true, to: try #require(document.node(at: ["eth0"])))
            edits.addEntry(key: "driver", scalar: "virtio_net", to: try #require(document.node(at: ["eth0", "match"])))
        }
        #expect(result == "eth0:\n  match:\n    name: en0\n    driver: virtio_net\n  dhcp4: true")
    }

    @Test("entries removed from and added to a flow mapping", arguments: [
        (["b"], [String](), "{a: 1, c: 3}"),
        (["c"], [], "{a: 1, b: 2}"),
        (["b", "c"], [], "{a: 1}"),
        (["a", "b"], [], "{c: 3}"),
        (["a", "b", "c"], [], "{}"),
        (["a", "b", "c"], ["k"], "{k: v}"),
        (["c"], ["k"], "{a: 1, b: 2, k: v}"),
    ])
    func flowMappingEntries(removed: [String], added: [String], expected: String) throws {
        let result = try edited("m: {a: 1, b: 2, c: 3}  # flow\n") { document, edits in
            let mapping = try #require(document.node(at: ["m"]))
            for key in removed { edits.removeEntry(key: key, from: mapping) }
            for key in added { edits.addEntry(key: key, scalar: "v", to: mapping) }
        }
        #expect(result == "m: \(expected)  # flow\n")
    }

    @Test("adding to an empty { } and a value with ',' inside [ ]")
    func flowAdditions() throws {
        let result = try edited("m: {}\nl: [a, b]\n") { document, edits in
            edits.addEntry(key: "k", sequence: ["x", "y,z"], to: try #require(document.node(at: ["m"])))
            edits.replaceScalar(try #require(document.node(at: ["l", 1])), with: "c,d")
        }
        #expect(result == "m: {k: [x, \"y,z\"]}\nl: [a, \"c,d\"]\n")
        #expect(try YAMLDocument(parsing: result).node(at: ["l", 1])?.scalar == "c,d")
    }

    @Test("two edits of the same bytes throw instead of guessing")
    func overlappingEdits() throws {
        let document = try YAMLDocument(parsing: netplan)
        var edits = YAMLEdits(document: document)
        edits.replaceScalar(try #require(document.node(at: eth0 + ["match", "macaddress"])), with: "52:54:00:aa:bb:cc")
        edits.removeEntry(key: "match", from: try #require(document.node(at: eth0)))
        #expect(throws: YAMLEditError.self) { try edits.apply() }
    }

    @Test("an edit of the wrong kind of node throws from apply()")
    func misuse() throws {
        let document = try YAMLDocument(parsing: netplan)
        var scalarEdit = YAMLEdits(document: document)
        scalarEdit.replaceScalar(try #require(document.node(at: eth0)), with: "x")
        #expect(throws: YAMLEditError.self) { try scalarEdit.apply() }

        var duplicate = YAMLEdits(document: document)
        duplicate.addEntry(key: "gateway4", scalar: "10.0.0.2", to: try #require(document.node(at: eth0)))
        do {
            _ = try duplicate.apply()
            Issue.record("adding an existing key was accepted")
        } catch {
            #expect(error.message.contains("already has that key"), "\(error)")
        }

        var sequenceEdit = YAMLEdits(document: document)
        sequenceEdit.replaceSequence(try #require(document.node(at: eth0 + ["gateway4"])), with: [])
        #expect(throws: YAMLEditError.self) { try sequenceEdit.apply() }
        #expect(YAMLEdits(document: document).isEmpty)
        #expect(try YAMLEdits(document: document).apply() == netplan, "no edits give the text back")
    }

    @Test("every edit's output parses again and reads back the new value")
    func roundTrip() throws {
        let result = try edited(netplan) { document, edits in
            edits.replaceScalar(try #require(document.node(at: eth0 + ["match", "macaddress"])), with: "52:54:00:01:02:03")
            edits.replaceScalar(try #require(document.node(at: eth1 + ["match", "macaddress"])), with: "52:54:00:04:05:06")
            edits.replaceSequence(try #require(document.node(at: eth0 + ["addresses"])), with: ["192.0.2.5/24"])
            edits.replaceSequence(try #require(document.node(at: eth0 + ["nameservers", "search"])), with: ["lab.example.com", "example.com"])
            edits.removeEntry(key: "gateway4", from: try #require(document.node(at: eth0)))
            edits.removeEntry(key: "dhcp4", from: try #require(document.node(at: eth1)))
            edits.addEntry(key: "dhcp6", boolean: false, to: try #require(document.node(at: eth1)))
            edits.addEntry(key: "optional", boolean: true, to: try #require(document.node(at: eth0)))
            edits.replaceScalar(try #require(document.node(at: eth0 + ["routes", 0, "via"])), with: "192.0.2.1")
        }
        let document = try YAMLDocument(parsing: result)
        #expect(document.node(at: eth0 + ["match", "macaddress"])?.scalar == "52:54:00:01:02:03")
        #expect(document.node(at: eth1 + ["match", "macaddress"])?.scalar == "52:54:00:04:05:06")
        #expect(document.node(at: eth0 + ["addresses"])?.items.map(\.scalar) == ["192.0.2.5/24"])
        #expect(document.node(at: eth0 + ["nameservers", "search"])?.items.map(\.scalar) == ["lab.example.com", "example.com"])
        #expect(document.node(at: eth0 + ["gateway4"]) == nil)
        #expect(document.node(at: eth1)?.keys == ["match", "dhcp6"])
        #expect(document.node(at: eth0 + ["optional"])?.scalar == "true")
        #expect(document.node(at: eth0 + ["routes", 0, "via"])?.scalar == "192.0.2.1")
        #expect(result.hasPrefix("# Written by the installer; edit with care.\nnetwork:\n  version: 2   # netplan schema\n"))
        #expect(result.contains("    # the uplink\n"))
        #expect(result.contains("macaddress: 52:54:00:01:02:03  # template NIC\n"))
    }

    @Test("which strings can be written without quotes", arguments: [
        ("52:54:00:12:34:56", true), ("10.0.0.5/24", true), ("fd00::1/64", true), ("eth0", true), ("en*", true),
        ("a#b", true), ("http://x/y", true), ("", false), (" x", false), ("x ", false), ("-x", false), ("*x", false),
        ("&x", false), ("!x", false), ("'x", false), ("\"x", false), ("%x", false), ("@x", false), ("`x", false),
        ("[x", false), ("{x", false), ("|", false), (">", false), ("a: b", false), ("a #b", false), ("a:", false),
        ("true", false), ("False", false), ("yes", false), ("off", false), ("null", false), ("~", false),
        ("1500", false), ("3.5", false), ("0x1F", false), ("1e3", false), (".inf", false), ("10.0.0.5", true),
        ("line\nbreak", false),
    ])
    func plainScalars(value: String, canBePlain: Bool) {
        #expect(YAMLScalarWriter.canBePlain(value, insideFlow: false) == canBePlain)
        if canBePlain {
            #expect((try? YAMLDocument(parsing: "k: \(value)\n").node(at: ["k"])?.scalar) == value, "reads back as itself")
        }
        #expect((try? YAMLDocument(parsing: "k: \(YAMLScalarWriter.doubleQuoted(value))\n").node(at: ["k"])?.scalar) == value,
                "the double-quoted form reads back as itself")
    }
}
