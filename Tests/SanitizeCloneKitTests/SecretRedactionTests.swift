@testable import SanitizeCloneKit
import Testing

/// How a plan's diff hides secrets: by key name in any file, every value in a file others cannot read.
@Suite("SecretRedaction")
struct SecretRedactionTests {
    /// A diff of `line` as the unchanged line right after a changed one, redacted.
    static func redactedContext(_ line: String, hidingEveryValue: Bool = false) -> String {
        let diff = LineDiff.unified(old: "changed=old\n\(line)\n", new: "changed=new\n\(line)\n", path: "/etc/x")
        let redacted = SecretRedaction.redacting(diff, hidingEveryValue: hidingEveryValue)
        return String(redacted.split(separator: "\n").last!.dropFirst())
    }

    @Test("a key naming a secret has its value hidden, whatever the case and separator", arguments: [
        ("psk=supersecret", "psk=<secret>"),
        ("  password: \"hunter2\"", "  password: <secret>"),
        ("WPA_PSK='supersecret'", "WPA_PSK=<secret>"),
        ("    wpa-psk supersecret", "    wpa-psk <secret>"),
        ("PrivateKey = c2VjcmV0", "PrivateKey = <secret>"),
        ("PresharedKey=c2VjcmV0", "PresharedKey=<secret>"),
        ("wep-key0=0123456789", "wep-key0=<secret>"),
        ("secret_key=abc", "secret_key=<secret>"),
        ("leap-password=abc", "leap-password=<secret>"),
        ("# psk=supersecret", "# psk=<secret>"),
        ("\"office\": {auth: {key-management: psk, password: \"hunter2\"}}", "\"office\": {auth: {key-management: psk, password: <secret>"),
    ])
    func secretKeys(_ line: String, _ expected: String) {
        #expect(Self.redactedContext(line) == expected)
    }

    @Test("other keys keep their values, even when a value mentions a secret", arguments: [
        "key-mgmt=wpa-psk", "ssid=password-net", "        macaddress: \"52:54:00:aa:00:01\"", "mode=infrastructure",
    ])
    func otherKeys(_ line: String) {
        #expect(Self.redactedContext(line) == line)
    }

    @Test("in a file others cannot read, every value is hidden; keys, sections and markers stay")
    func everyValue() {
        let old = "[connection]\nid=office\nuuid=6b1a2c3d\n# note\n[wifi-security]\npsk=supersecret\n"
        let diff = LineDiff.unified(old: old, new: old.replacing("6b1a2c3d", with: "9f8e7d6c"), path: "/etc/x")
        #expect(SecretRedaction.redacting(diff, hidingEveryValue: true) == """
            --- a/etc/x
            +++ b/etc/x
            @@ -1,6 +1,6 @@
             [connection]
             id=<secret>
            -uuid=<secret>
            +uuid=<secret>
             # <secret>
             [wifi-security]
             psk=<secret>

            """)
    }
}
