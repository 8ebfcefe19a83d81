extension Character {
    /// True for 0-9, a-f and A-F only. Swift's `isHexDigit` also accepts the fullwidth forms
    /// (U+FF10…), which no MAC address, UUID or machine-id in a guest file may hold.
    var isASCIIHexDigit: Bool { asciiHexDigitValue != nil }

    /// The value of an ASCII hexadecimal digit, nil for anything else (fullwidth digits included).
    var asciiHexDigitValue: Int? {
        guard isASCII else { return nil }
        return hexDigitValue
    }
}
