import Foundation
import Testing
@testable import SanitizeCloneKit

/// Inputs `make fuzz` found that trapped or hung a parser of guest files, read again: each must now
/// be refused (or read) in good time. See docs/testing.md, "Fuzzing".
@Suite struct FuzzRegressionTests {
    @Test("a netplan file with a carriage return alone is refused, not read forever")
    func carriageReturnAlone() throws {
        for text in ["\rJ", "network:\r  version: 2\r", "a: b\n# comment\r"] {
            let result = try #require(Self.finished { Result { () throws(YAMLSyntaxError) in try YAMLDocument(parsing: text) } },
                                      "reading \(text.debugDescription) did not finish")
            #expect(throws: YAMLSyntaxError.self) { try result.get() }
        }
        let error = #expect(throws: YAMLSyntaxError.self) { try YAMLDocument(parsing: "a: b\r\nc: d\re: f\n") }
        #expect(error?.line == 2)
        #expect(error?.column == 5)
        #expect(error?.message.contains("carriage return") == true)
    }

    // MARK: Helpers

    /// The result of `body`, run on a thread of its own, or nil when it has not finished within
    /// `seconds`: a parser stuck in a loop then fails its test instead of hanging the run (its
    /// thread is left spinning).
    static func finished<Value: Sendable>(within seconds: Double = 10, _ body: @escaping @Sendable () -> Value) -> Value? {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<Value>()
        Thread {
            box.value = body()
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return box.value
    }
}

/// Where `FuzzRegressionTests.finished` leaves a thread's result.
private final class ResultBox<Value: Sendable>: @unchecked Sendable {
    // @unchecked: written once by the worker thread before it signals the semaphore, read only
    // after a successful wait on it, which orders the two.
    var value: Value?
}
