@testable import SanitizeCloneKit
import Testing

@Suite("/etc/hosts rewriting (HostsFile.renamed)")
struct HostsFileTests {
    @Test("replaces whole tokens only: web-backup is not web, and neither is webmail")
    func wholeTokensOnly() {
        let hosts = HostsFile(text: "127.0.0.1 localhost\n127.0.1.1 web\n10.0.0.2 web-backup webmail web\n")
        #expect(hosts.renamed(from: "web", to: "db", domain: nil) == "127.0.0.1 localhost\n127.0.1.1\tdb\n10.0.0.2 web-backup webmail db\n")
    }

    @Test("keeps comments, blank lines and the spacing of lines it does not own")
    func keepsCommentsAndSpacing() {
        let text = "# web is our host\n127.0.0.1   localhost\n\n10.0.0.9\t web   web-old  # web\n127.0.1.1 web\n"
        #expect(HostsFile(text: text).renamed(from: "web", to: "db", domain: nil)
            == "# web is our host\n127.0.0.1   localhost\n\n10.0.0.9\t db   web-old  # web\n127.0.1.1\tdb\n")
    }

    @Test("the 127.0.1.1 line names the FQDN, then the name, when the old one carried a domain; its comment stays")
    func loopbackLineWithDomain() {
        let hosts = HostsFile(text: "127.0.1.1 golden.example.com golden # set by the installer\n")
        #expect(hosts.renamed(from: "golden", to: "web-01", domain: nil) == "127.0.1.1\tweb-01.example.com web-01 # set by the installer\n")
    }

    @Test("a new domain replaces the old one in every FQDN of the old host")
    func newDomain() {
        let hosts = HostsFile(text: "127.0.1.1 golden.example.com golden\n10.1.1.1 golden.example.com\n")
        #expect(hosts.renamed(from: "golden", to: "web", domain: "corp.example")
            == "127.0.1.1\tweb.corp.example web\n10.1.1.1 web.corp.example\n")
    }

    @Test("a missing 127.0.1.1 line goes after the last 127.0.0.1 line, or first when there is none")
    func missingLoopbackLine() {
        #expect(HostsFile(text: "127.0.0.1 localhost\n127.0.0.1 localhost.localdomain\n::1 localhost\n").renamed(from: "golden", to: "web", domain: nil)
            == "127.0.0.1 localhost\n127.0.0.1 localhost.localdomain\n127.0.1.1\tweb\n::1 localhost\n")
        #expect(HostsFile(text: "::1 localhost\n").renamed(from: nil, to: "web", domain: "example.com")
            == "127.0.1.1\tweb.example.com web\n::1 localhost\n")
    }

    @Test("the old name is matched case-insensitively; addresses and comments are never rewritten")
    func caseAndColumns() {
        let hosts = HostsFile(text: "127.0.1.1 Golden.Example.Com GOLDEN # golden\n")
        #expect(hosts.renamed(from: "golden", to: "web", domain: nil) == "127.0.1.1\tweb.Example.Com web # golden\n")
    }

    @Test("renaming to the same name changes nothing")
    func idempotent() {
        let text = "127.0.0.1\tlocalhost\n127.0.1.1\tweb.example.com web\n"
        #expect(HostsFile(text: text).renamed(from: "web", to: "web", domain: nil) == text)
    }
}
