#if canImport(Glibc)
import Glibc
#endif
import CLibFuzzer

// The three symbols libFuzzer and the linker look for. Which parser an input goes to is chosen
// once per process by SANITIZE_CLONE_FUZZ_PARSER (see `FuzzedParser`).

/// The process entry point as SwiftPM links it.
///
/// SwiftPM links an executable with `--defsym main=<module>_main` (so tests could link its
/// module), and that alias takes the place of the `main` libFuzzer brings along. This one hands
/// the command line to libFuzzer's driver, as libFuzzer's own `main` does.
@_cdecl("sanitize_clone_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOneInput)
}

/// Called by libFuzzer once, after it has read its own options: picks the parser (or lists them
/// with SANITIZE_CLONE_FUZZ_PARSER=list) so that a wrong name fails before the first input.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    if FuzzedParser.requestedName == "list" {
        print(FuzzedParser.all.map(\.name).joined(separator: "\n"))
        exit(0)
    }
    _ = FuzzedParser.selected
    return 0
}

/// Called by libFuzzer with each input: the selected parser reads it. A thrown error is the
/// parser refusing bad input, as it should; only a trap (or a sanitizer report) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzedParser.selected.feed(bytes)
    return 0
}
