internal import WPWithinCore

/// A wire value that reads itself from Go JSON in one pass over the bytes: no `JSONValue` tree, no `Decoder`.
/// Its results (values, and the kind of error when it refuses a body) must equal its `init(from:)` through
/// `JSONValueDecoder`'s (tested, `GoJSONReaderDifferentialTests`).
public protocol GoJSONReadable: Decodable {
    /// Reads the reader's next value, which is usually an object read the way Go fills a struct (`null` gives
    /// the zero value). An error that is not about the JSON syntax is thrown only once the value is consumed.
    init(goJSON reader: inout GoJSONReader) throws
}

/// Not well-formed JSON (or nested deeper than `JSONValue.maximumDepth`): `GoJSON.decode` throws it as the
/// `underlyingError` of a `DecodingError.dataCorrupted`, as the `JSONValue` parser's errors are.
struct GoJSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    var offset: Int
    var reason: String
    var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// A pull reader over the UTF-8 bytes of one JSON body, with the strict `JSONValue` parser's rules: RFC 8259
/// syntax, strings of valid UTF-8 with paired surrogate escapes, numbers that fit a Double, whitespace only
/// after the value. What it skips it validates just as strictly, so that a body is refused for the same
/// reasons as when the whole of it was parsed before decoding.
///
/// The reader sees the bytes only while `GoJSON.decode` runs; it has no public initialiser.
public struct GoJSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    /// The content of the last string that had escapes, unescaped (a key or a value); reused.
    private var scratch: [UInt8] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// One whole document: the value, then nothing but whitespace. A syntax error anywhere outranks an error
    /// about a value (the old path parsed everything before it decoded anything).
    static func read<T: GoJSONReadable>(_ type: T.Type, from bytes: UnsafeBufferPointer<UInt8>) throws -> T {
        var reader = GoJSONReader(bytes)
        do {
            reader.skipWhitespace()
            let value: T
            do {
                value = try T(goJSON: &reader)
            } catch let error as GoJSONSyntaxError {
                throw error
            } catch {
                try reader.finish()
                throw error
            }
            try reader.finish()
            return value
        } catch let error as GoJSONSyntaxError {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(error)", underlyingError: error))
        }
    }

    private mutating func finish() throws(GoJSONSyntaxError) {
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the value") }
    }

    // MARK: Values

    /// An integer that fits a Go `int`; nil for `null`. A number with a fraction or beyond 2^53 written as a
    /// float is refused, one like `1e2` or `5.0` is read as the integer it is (as the `JSONValue` parser did).
    mutating func readInt() throws -> Int? {
        switch try peek() {
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            guard case .integer(let value) = try scanNumber(), let int = Int(exactly: value) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "number \(text(start..<index)) does not fit in Int"))
            }
            return int
        default:
            return try null(or: Int.self)
        }
    }

    /// nil for `null`.
    mutating func readString() throws -> String? {
        switch try peek() {
        case UInt8(ascii: "\""):
            if let raw = try scanString(unescaping: true) { return text(raw) }
            return String(decoding: scratch, as: UTF8.self)
        default:
            return try null(or: String.self)
        }
    }

    /// nil for `null`.
    mutating func readBool() throws -> Bool? {
        switch try peek() {
        case UInt8(ascii: "t"):
            try expect("true")
            return true
        case UInt8(ascii: "f"):
            try expect("false")
            return false
        default:
            return try null(or: Bool.self)
        }
    }

    /// A nested value; nil for `null` (where the caller wants Go's zero value or a nil pointer).
    mutating func read<T: GoJSONReadable>(_ type: T.Type) throws -> T? {
        if try peek() == UInt8(ascii: "n") { return try null(or: T.self) }
        return try T(goJSON: &self)
    }

    /// An array, each element read by `element`; nil for `null`. The first element's error is thrown after
    /// the closing bracket (the rest only validated), as `Array(from:)` threw the first.
    mutating func readArray<Element>(_ element: (inout GoJSONReader) throws -> Element) throws -> [Element]? {
        guard try peek() == UInt8(ascii: "[") else { return try null(or: [Element].self) }
        var elements: [Element] = []
        var failure: (any Error)?
        try walkArray { reader in
            guard failure == nil else { return try reader.skipValue() }
            do {
                elements.append(try element(&reader))
            } catch let error as GoJSONSyntaxError {
                throw error
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return elements
    }

    /// `element` for a `[String]`: a `null` element is an error, as it was for `Array<String>(from:)`
    /// (Go would leave "").
    mutating func readNonNullString() throws -> String {
        guard let string = try readString() else {
            throw DecodingError.valueNotFound(String.self, .init(codingPath: [], debugDescription: "expected String, found null"))
        }
        return string
    }

    /// An object read as Go fills a struct: each member whose key names one of `fields` goes to `body` with
    /// the field's index, and `body` reads its value; other members are skipped. `null` is an object with no
    /// members. A field named exactly is not replaced by a later key that only folds to it (the old path looked
    /// the exact key up first); otherwise a later member replaces an earlier one.
    mutating func readObject(_ fields: GoJSONFields, _ body: (Int, inout GoJSONReader) throws -> Void) throws {
        var exact: UInt64 = 0
        var hint = 0
        try readMembers { reader, key in
            guard let match = reader.withKey(key, { fields.match($0, from: hint) }),
                  match.exact || exact & (1 << match.index) == 0
            else { return try reader.skipValue() }
            if match.exact { exact |= 1 << match.index }
            hint = match.index + 1
            try body(match.index, &reader)
        }
    }

    /// An object with any keys (a Go map): `body` gets each key as a `String` and reads its value. False for
    /// `null`.
    mutating func readMap(_ body: (String, inout GoJSONReader) throws -> Void) throws -> Bool {
        try readMembers { reader, key in
            let name = reader.withKey(key) { String(decoding: $0, as: UTF8.self) }
            try body(name, &reader)
        }
    }

    /// An object's members; `member` gets the key (its raw range, nil when unescaped into `scratch`) and must
    /// read the value. False for `null`.
    @discardableResult
    private mutating func readMembers(_ member: (inout GoJSONReader, Range<Int>?) throws -> Void) throws -> Bool {
        guard try peek() == UInt8(ascii: "{") else { return try null(or: [String: Any].self) != nil }
        try walkObject(unescapingKeys: true, member)
        return true
    }

    /// The object at `index` (its `{`): `member` gets each key (its raw range; nil when it had escapes, then
    /// unescaped into `scratch` if `unescapingKeys`) and must read the value.
    private mutating func walkObject(unescapingKeys: Bool, _ member: (inout GoJSONReader, Range<Int>?) throws -> Void) throws {
        try walk(close: UInt8(ascii: "}"), "object") { reader in
            guard reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: "\"") else {
                throw reader.fail("expected a string key")
            }
            let key = try reader.scanString(unescaping: unescapingKeys)
            reader.skipWhitespace()
            guard reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: ":") else { throw reader.fail("expected :") }
            reader.index += 1
            reader.skipWhitespace()
            try member(&reader, key)
        }
    }

    /// The array at `index` (its `[`): `element` must read each element.
    private mutating func walkArray(_ element: (inout GoJSONReader) throws -> Void) throws {
        try walk(close: UInt8(ascii: "]"), "array", element)
    }

    /// The container at `index` (its opening bracket), to its `close`: `item` reads each member or element.
    private mutating func walk(close: UInt8, _ container: String, _ item: (inout GoJSONReader) throws -> Void) throws {
        try enter()
        skipWhitespace()
        if index < bytes.count, bytes[index] == close {
            index += 1
            depth -= 1
            return
        }
        repeat {
            skipWhitespace()
            try item(&self)
        } while try !endOfMember(close, container)
        depth -= 1
    }

    private func withKey<R>(_ key: Range<Int>?, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let key { return body(UnsafeBufferPointer(rebasing: bytes[key])) }
        return scratch.withUnsafeBufferPointer(body)
    }

    /// After a member or element: true at the closing bracket, false after a comma.
    private mutating func endOfMember(_ close: UInt8, _ container: String) throws(GoJSONSyntaxError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw fail("unexpected end in \(container)") }
        switch bytes[index] {
        case UInt8(ascii: ","):
            index += 1
            return false
        case close:
            index += 1
            return true
        default:
            throw fail("expected , or \(Character(Unicode.Scalar(close)))")
        }
    }

    /// The value is not of the type wanted: `null` gives nil, anything else a type mismatch.
    private mutating func null<T>(or type: T.Type) throws -> T? {
        guard bytes[index] == UInt8(ascii: "n") else { throw try mismatch(type) }
        try expect("null")
        return nil
    }

    /// A value of another JSON type than `type`: skipped (and so validated), then the error to throw.
    private mutating func mismatch<T>(_ type: T.Type) throws -> DecodingError {
        let found: String
        switch bytes[index] {
        case UInt8(ascii: "{"): found = "object"
        case UInt8(ascii: "["): found = "array"
        case UInt8(ascii: "\""): found = "string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "boolean"
        case UInt8(ascii: "n"): found = "null"
        default: found = "number"
        }
        try skipValue()
        return DecodingError.typeMismatch(type, .init(codingPath: [], debugDescription: "expected \(type), found \(found)"))
    }

    /// Skips one value of any type, validating it (only syntax errors are thrown).
    mutating func skipValue() throws {
        switch try peek() {
        case UInt8(ascii: "{"): try walkObject(unescapingKeys: false) { reader, _ in try reader.skipValue() }
        case UInt8(ascii: "["): try walkArray { try $0.skipValue() }
        case UInt8(ascii: "\""): _ = try scanString(unescaping: false)
        case UInt8(ascii: "t"): try expect("true")
        case UInt8(ascii: "f"): try expect("false")
        case UInt8(ascii: "n"): try expect("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
        default: throw fail("unexpected character")
        }
    }

    // MARK: Tokens

    private func fail(_ reason: String) -> GoJSONSyntaxError { GoJSONSyntaxError(offset: index, reason: reason) }

    /// The byte a value starts with.
    private func peek() throws(GoJSONSyntaxError) -> UInt8 {
        guard index < bytes.count else { throw fail("unexpected end") }
        return bytes[index]
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func enter() throws(GoJSONSyntaxError) {
        depth += 1
        guard depth <= JSONValue.maximumDepth else { throw fail("nesting deeper than \(JSONValue.maximumDepth)") }
        index += 1
    }

    private mutating func expect(_ literal: StaticString) throws(GoJSONSyntaxError) {
        let end = index + literal.utf8CodeUnitCount
        guard end <= bytes.count else { throw fail("unexpected end") }
        let text = UnsafeBufferPointer(rebasing: bytes[index..<end])
        guard literal.withUTF8Buffer({ text.elementsEqual($0) }) else { throw fail("invalid literal") }
        index = end
    }

    private func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A string from its opening quote to past its closing one. Returns the range of its content when it has
    /// no escapes; otherwise nil, with the content unescaped into `scratch` when `unescaping`. Raw bytes must
    /// be well-formed UTF-8 (checked sequence by sequence: an escape always ends one, so this equals checking
    /// the unescaped whole as the old parser did).
    private mutating func scanString(unescaping: Bool) throws(GoJSONSyntaxError) -> Range<Int>? {
        index += 1
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let end = index
                index += 1
                return escaped ? nil : start..<end
            case UInt8(ascii: "\\"):
                if !escaped, unescaping {
                    scratch.removeAll(keepingCapacity: true)
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                }
                escaped = true
                try scanEscape(unescaping: unescaping)
            case 0x00..<0x20:
                throw fail("control character in string")
            case 0x80...:
                let length = try utf8SequenceLength()
                if escaped, unescaping { scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<index + length])) }
                index += length
            default:
                if escaped, unescaping { scratch.append(byte) }
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    /// The escape at `index` (a backslash); its character appended to `scratch` when `unescaping`.
    private mutating func scanEscape(unescaping: Bool) throws(GoJSONSyntaxError) {
        index += 1
        guard index < bytes.count else { throw fail("unexpected end in escape") }
        let escape = bytes[index]
        index += 1
        let unescaped: UInt8
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped = escape
        case UInt8(ascii: "b"): unescaped = 0x08
        case UInt8(ascii: "f"): unescaped = 0x0C
        case UInt8(ascii: "n"): unescaped = 0x0A
        case UInt8(ascii: "r"): unescaped = 0x0D
        case UInt8(ascii: "t"): unescaped = 0x09
        case UInt8(ascii: "u"):
            // A UTF-16 code unit; a lead surrogate must be followed by the `\u` of its trail (Go would take a
            // lone one for U+FFFD; the old parser refused the body).
            let unit = try hex4()
            let scalar: Unicode.Scalar?
            if UTF16.isLeadSurrogate(unit) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail("unpaired surrogate")
                }
                index += 2
                let trail = try hex4()
                scalar = UTF16.isTrailSurrogate(trail) ? UTF16.decode(UTF16.EncodedScalar([unit, trail])) : nil
            } else {
                scalar = Unicode.Scalar(unit)  // nil for a trail surrogate
            }
            guard let scalar else { throw fail("unpaired surrogate") }
            if unescaping { UTF8.encode(scalar) { scratch.append($0) } }
            return
        default:
            throw fail("invalid escape")
        }
        if unescaping { scratch.append(unescaped) }
    }

    /// The four hex digits of a `\u` escape.
    private mutating func hex4() throws(GoJSONSyntaxError) -> UInt16 {
        guard index + 4 <= bytes.count else { throw fail("short \\u escape") }
        var unit: UInt16 = 0
        for byte in bytes[index..<index + 4] {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): unit = unit << 4 | UInt16(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
                unit = unit << 4 | UInt16((byte | 0x20) - UInt8(ascii: "a") + 10)  // | 0x20: the letter in lower case
            default: throw fail("invalid \\u escape")
            }
        }
        index += 4
        return unit
    }

    /// The length of the well-formed UTF-8 sequence at `index` (its first byte ≥ 0x80), Unicode's table 3-7:
    /// no overlong forms, no surrogates, nothing above U+10FFFF.
    private func utf8SequenceLength() throws(GoJSONSyntaxError) -> Int {
        let lead = bytes[index]
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; second = 0x80...0x9F
        case 0xF0: length = 4; second = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; second = 0x80...0x8F
        default: throw GoJSONSyntaxError(offset: index, reason: "invalid UTF-8 in string")
        }
        guard index + length <= bytes.count, second.contains(bytes[index + 1]) else {
            throw GoJSONSyntaxError(offset: index, reason: "invalid UTF-8 in string")
        }
        for next in index + 2..<index + length where bytes[next] & 0xC0 != 0x80 {
            throw GoJSONSyntaxError(offset: index, reason: "invalid UTF-8 in string")
        }
        return length
    }

    /// What a number is to a Go `int` field.
    private enum Number {
        case integer(Int64)
        /// Has a fraction, or is too large to be an exact integer.
        case other
    }

    /// A number by RFC 8259's grammar, classified as the `JSONValue` parser did: digits alone that fit Int64
    /// are that integer; anything else goes through Double, must be finite (else the document is refused), and
    /// is an integer when it has no fraction and is within ±2^53.
    private mutating func scanNumber() throws(GoJSONSyntaxError) -> Number {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count else { throw fail("unexpected end in number") }
        var magnitude: UInt64 = 0
        var overflow = false
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                overflow = overflow || o1 || o2
                magnitude = sum
                index += 1
            }
        } else {
            throw fail("invalid number")
        }
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            try digits("invalid fraction")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            try digits("invalid exponent")
        }
        if isInteger, !overflow {
            if negative, magnitude <= UInt64(Int64.max) + 1 { return .integer(Int64(truncatingIfNeeded: 0 &- magnitude)) }
            if !negative, magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
        }
        guard let value = Double(text(start..<index)), value.isFinite else {
            throw GoJSONSyntaxError(offset: start, reason: "number out of range")
        }
        if value == value.rounded(), abs(value) <= 9_007_199_254_740_992 { return .integer(Int64(value)) }
        return .other
    }

    private mutating func digits(_ reason: String) throws(GoJSONSyntaxError) {
        let first = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        guard index > first else { throw fail(reason) }
    }
}

/// The JSON keys of a wire struct's fields, matched as the old path (`GoObject` over a Swift dictionary)
/// matched them: a key equal to the name as Swift compares strings (canonical equivalence: KELVIN SIGN U+212A
/// is `K`), else equal ignoring case as `String.lowercased()` has it (U+212A lowercases to `k`). Go folds
/// with Unicode simple folding instead (`ſ` U+017F would match `s` there, not here).
struct GoJSONFields: Sendable {
    private let names: [[UInt8]]

    init(_ names: StaticString...) {
        precondition(names.count <= 64, "a field set is a 64-bit mask")
        self.names = names.map { name in name.withUTF8Buffer { Array($0) } }
    }

    /// The field `key` names, trying from `from` on (keys mostly come in field order).
    func match(_ key: UnsafeBufferPointer<UInt8>, from hint: Int) -> (index: Int, exact: Bool)? {
        let count = names.count
        for step in 0..<count {
            let field = (hint + step) % count
            if names[field].elementsEqual(key) { return (field, true) }
        }
        // Rare: another spelling. Not ASCII, and not U+212A: no name can match.
        for field in 0..<count where Self.equal(key, names[field], folding: false) { return (field, true) }
        for field in 0..<count where Self.equal(key, names[field], folding: true) { return (field, false) }
        return nil
    }

    private static func equal(_ key: UnsafeBufferPointer<UInt8>, _ name: [UInt8], folding: Bool) -> Bool {
        guard key.count >= name.count else { return false }
        var position = 0
        for expected in name {
            guard position < key.count else { return false }
            var byte = key[position]
            if byte == 0xE2, position + 2 < key.count, key[position + 1] == 0x84, key[position + 2] == 0xAA {
                byte = UInt8(ascii: "K")
                position += 3
            } else {
                position += 1
            }
            if folding {
                guard lower(byte) == lower(expected) else { return false }
            } else {
                guard byte == expected else { return false }
            }
        }
        return position == key.count
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 0x20 : byte
    }
}

/// One field of a wire struct while its object is read: the value of the member that counts, or the error
/// its value met. The error waits for the struct to be built: a syntax error later in the body outranks it,
/// a later duplicate key replaces it, and fields throw in the order the old `init(from:)` read them.
struct GoField<Value> {
    private var result: Result<Value?, any Error> = .success(nil)

    init() {}

    /// nil: the member was missing or `null` (Go's zero value).
    var value: Value? {
        get throws { try result.get() }
    }

    mutating func take(_ read: () throws -> Value?) throws {
        do {
            result = .success(try read())
        } catch let error as GoJSONSyntaxError {
            throw error
        } catch {
            result = .failure(error)
        }
    }
}

extension GoField where Value == Int {
    mutating func read(_ reader: inout GoJSONReader) throws { try take { try reader.readInt() } }
}

extension GoField where Value == String {
    mutating func read(_ reader: inout GoJSONReader) throws { try take { try reader.readString() } }
}

extension GoField where Value == Bool {
    mutating func read(_ reader: inout GoJSONReader) throws { try take { try reader.readBool() } }
}

extension GoField where Value: GoJSONReadable {
    mutating func read(_ reader: inout GoJSONReader) throws { try take { try reader.read(Value.self) } }
}

extension GoField {
    /// A list of wire structs (a `null` element is the zero struct, as Go has it).
    mutating func read<Element: GoJSONReadable>(_ reader: inout GoJSONReader) throws where Value == [Element] {
        try take { try reader.readArray(Element.init(goJSON:)) }
    }
}
