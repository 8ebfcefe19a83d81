@testable import SanitizeCloneKit
import Testing

@Suite("Hostname rules (RFC 1123 labels, at most 64 characters)")
struct HostnameValidationTests {
    static let valid = ["web-01", "a", "1st-host", "Web-01", "web.example.com", "xn--bcher-kva",
                        String(repeating: "a", count: 63),
                        String(repeating: "a", count: 31) + "." + String(repeating: "b", count: 32)]

    @Test("accepts valid names", arguments: valid)
    func acceptsValidNames(_ name: String) throws {
        try Hostname.validate(name, source: "--hostname")
    }

    static let invalid: [(String, String)] = [
        ("", "empty"), ("bad_name!", "label"), ("-web", "label"), ("web-", "label"), ("web..example.com", "empty label"),
        (".web", "empty label"), ("web.", "empty label"), ("wéb", "label"), ("web 01", "label"),
        (String(repeating: "a", count: 64), "label"),
        (String(repeating: "a", count: 32) + "." + String(repeating: "b", count: 32), "longer than 64"),
    ]

    @Test("rejects invalid names, saying why and where the name came from", arguments: invalid)
    func rejectsInvalidNames(_ name: String, _ problem: String) throws {
        let error = try #require(throws: InputError.self) { try Hostname.validate(name, source: "--hostname") }
        #expect(error.description.contains(problem), "\(error)")
        #expect(error.description.contains("--hostname"), "\(error)")
    }

    @Test("splits an FQDN into name and domain")
    func split() {
        #expect(Hostname.split("web.example.com") == ("web", "example.com"))
        #expect(Hostname.split("web").name == "web" && Hostname.split("web").domain == nil)
    }
}
