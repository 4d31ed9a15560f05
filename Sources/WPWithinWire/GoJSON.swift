internal import WPWithinCore

/// JSON the way the Go SDK writes and reads it.
///
/// `encode` runs a value's `encode(to:)` through an encoder that keeps keys in the order they are
/// encoded (the wire types encode in Go struct-field order) and writes compact JSON with Go's escaping
/// (`<`, `>`, `&`, U+2028, U+2029 as `\u003c`…, other control characters as `\u00XX`, `/` unescaped).
/// `decode` reads a ``GoJSONReadable`` value (every wire type) in one pass with ``GoJSONReader``, anything
/// else with the strict `JSONValue` parser and `JSONValueDecoder`; the wire types match keys case-insensitively,
/// as Go does.
public enum GoJSON {
    /// Compact JSON bytes, keys in encoding order. A ``GoJSONWritable`` value (the hot HTE bodies) writes
    /// itself in one pass; anything else goes through the ordered `Encoder`.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        if let writable = value as? any GoJSONWritable {
            var writer = GoJSONWriter()
            try writable.writeGoJSON(&writer)
            return writer.bytes
        }
        return try encodeThroughEncoder(value)
    }

    /// The `Encoder` path, also for values that could write themselves (tests compare the two).
    static func encodeThroughEncoder<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = Slot()
        try root.store(value, codingPath: [])
        var out: [UInt8] = []
        try write(root, into: &out)
        return out
    }

    /// What Go's `json.Encoder.Encode` sends as an HTTP body: the compact JSON plus `\n`.
    public static func encodeLine<T: Encodable>(_ value: T) throws -> [UInt8] {
        var bytes = try encode(value)
        bytes.append(0x0A)
        return bytes
    }

    public static func encodeString<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    /// A wire value, read in one pass. A body it refuses throws a `DecodingError` of the kind the `Decoder`
    /// path throws: `dataCorrupted` (with the syntax error as `underlyingError`) for malformed JSON,
    /// `typeMismatch`, `valueNotFound` or `dataCorrupted` for a value of the wrong type or form.
    public static func decode<T: GoJSONReadable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        if let value = try bytes.withContiguousStorageIfAvailable({ try GoJSONReader.read(type, from: $0) }) {
            return value
        }
        return try Array(bytes).withUnsafeBufferPointer { try GoJSONReader.read(type, from: $0) }
    }

    public static func decode<T: GoJSONReadable>(_ type: T.Type, from string: String) throws -> T {
        var string = string
        return try string.withUTF8 { try GoJSONReader.read(type, from: $0) }
    }

    /// Any `Decodable`: a ``GoJSONReadable`` one (known only at run time here) still reads in one pass.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        if let readable = type as? any GoJSONReadable.Type { return try decodeReadable(readable, from: bytes) as! T }
        return try JSONValueDecoder().decode(type, from: bytes)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from string: String) throws -> T {
        try decode(type, from: Array(string.utf8))
    }

    private static func decodeReadable<T: GoJSONReadable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        try decode(type, from: bytes)
    }

    // MARK: Writer

    private static func write(_ slot: Slot, into out: inout [UInt8]) throws {
        switch slot.content {
        case .empty:
            out += Array("{}".utf8)  // a value that asked for a container and wrote nothing
        case .null:
            out += Array("null".utf8)
        case .bool(let b):
            out += Array((b ? "true" : "false").utf8)
        case .number(let text):
            out += Array(text.utf8)
        case .string(let s):
            writeString(s, into: &out)
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (index, entry) in object.entries.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(entry.key, into: &out)
                out.append(UInt8(ascii: ":"))
                try write(entry.slot, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let array):
            out.append(UInt8(ascii: "["))
            for (index, element) in array.elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// Go's string escaping, one pass over the UTF-8 bytes: `"` `\\` `\n` `\r` `\t`, other control
    /// characters and `<` `>` `&` as `\u00XX`, U+2028/U+2029 as `\u2028`/`\u2029`; everything else as is.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var string = s
        string.withUTF8 { utf8 in
            var i = 0
            let n = utf8.count
            while i < n {
                let b = utf8[i]
                switch b {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x0A: out += [0x5C, UInt8(ascii: "n")]
                case 0x0D: out += [0x5C, UInt8(ascii: "r")]
                case 0x09: out += [0x5C, UInt8(ascii: "t")]
                case 0x00..<0x20, 0x3C, 0x3E, 0x26:
                    out += [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
                case 0xE2 where i + 2 < n && utf8[i + 1] == 0x80 && (utf8[i + 2] == 0xA8 || utf8[i + 2] == 0xA9):
                    out += [0x5C, UInt8(ascii: "u"), UInt8(ascii: "2"), UInt8(ascii: "0"), UInt8(ascii: "2"),
                            utf8[i + 2] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9")]
                    i += 2
                default:
                    // A run of bytes that need no escaping, copied at once.
                    var end = i + 1
                    while end < n {
                        let c = utf8[end]
                        if c < 0x20 || c == 0x22 || c == 0x5C || c == 0x3C || c == 0x3E || c == 0x26 || c == 0xE2 { break }
                        end += 1
                    }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[i..<end]))
                    i = end
                    continue
                }
                i += 1
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A wire value that writes its own Go JSON in one pass, straight into the output bytes (no Codable tree):
/// the HTE bodies sent on every purchase. Its bytes must equal the `Encoder` path's (tested).
public protocol GoJSONWritable: Encodable {
    func writeGoJSON(_ writer: inout GoJSONWriter) throws
}

/// Compact JSON written in one pass, keys in call order, with ``GoJSON``'s string escaping.
public struct GoJSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var first = true

    public init() {
        bytes.reserveCapacity(256)
    }

    public mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        first = false
    }

    /// A member name: a constant ASCII key that needs no escaping.
    public mutating func key(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        GoJSON.writeString(value, into: &bytes)
    }

    public mutating func field(_ name: StaticString, _ value: String?) {
        guard let value else { return null(name) }
        field(name, value)
    }

    public mutating func field(_ name: StaticString, _ value: Int) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func field<T: GoJSONWritable>(_ name: StaticString, _ value: T) throws {
        key(name)
        try value.writeGoJSON(&self)
    }

    public mutating func field<T: GoJSONWritable>(_ name: StaticString, _ value: T?) throws {
        guard let value else { return null(name) }
        try field(name, value)
    }

    /// A member whose value is JSON this writer wrote before (a stored delivery token), copied as it is.
    public mutating func field(_ name: StaticString, json value: some Collection<UInt8>) {
        key(name)
        bytes.append(contentsOf: value)
    }

    public mutating func null(_ name: StaticString) {
        key(name)
        bytes.append(contentsOf: "null".utf8)
    }

    /// A bare string value (e.g. a whole value that is one string).
    public mutating func string(_ value: String) {
        GoJSON.writeString(value, into: &bytes)
        first = false
    }
}

// MARK: - Ordered encoder

final class Slot {
    enum Content {
        case empty, null
        case bool(Bool)
        case number(String)
        case string(String)
        case object(ObjectStorage)
        case array(ArrayStorage)
    }
    var content: Content = .empty

    func store<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws {
        // Type identity checks (a metadata pointer compare) rather than `as?` casts, which went through the
        // runtime's dynamic cast for every field of every wire value.
        if T.self == String.self { content = .string(unsafeBitCast(value, to: String.self)) }
        else if T.self == Int.self { content = .number(String(unsafeBitCast(value, to: Int.self))) }
        else if T.self == Bool.self { content = .bool(unsafeBitCast(value, to: Bool.self)) }
        else if T.self == Int64.self { content = .number(String(unsafeBitCast(value, to: Int64.self))) }
        else if T.self == Int32.self { content = .number(String(unsafeBitCast(value, to: Int32.self))) }
        else if T.self == UInt64.self { content = .number(String(unsafeBitCast(value, to: UInt64.self))) }
        else if T.self == UInt32.self { content = .number(String(unsafeBitCast(value, to: UInt32.self))) }
        else if T.self == Double.self { content = .number(try Slot.format(unsafeBitCast(value, to: Double.self), codingPath)) }
        else { try value.encode(to: OrderedEncoder(slot: self, codingPath: codingPath)) }
    }

    /// Go formats float64 with the shortest representation; integral values have no `.0`.
    static func format(_ v: Double, _ codingPath: [any CodingKey]) throws -> String {
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, .init(codingPath: codingPath, debugDescription: "non-finite number"))
        }
        if v == v.rounded(), abs(v) < 1e21 { return String(Int64(v)) }
        return "\(v)"
    }
}

final class ObjectStorage {
    var entries: [(key: String, slot: Slot)] = []
    /// The slot for `key`; a key encoded twice keeps its first position (last value wins).
    func slot(for key: String) -> Slot {
        if let existing = entries.first(where: { $0.key == key }) { return existing.slot }
        let slot = Slot()
        entries.append((key, slot))
        return slot
    }
}

final class ArrayStorage {
    var elements: [Slot] = []
    func append() -> Slot {
        let slot = Slot()
        elements.append(slot)
        return slot
    }
}

struct IndexKey: CodingKey {
    var stringValue: String { String(index) }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}

struct OrderedEncoder: Encoder {
    let slot: Slot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let storage: ObjectStorage
        if case .object(let existing) = slot.content {
            storage = existing
        } else {
            storage = ObjectStorage()
            slot.content = .object(storage)
        }
        return KeyedEncodingContainer(OrderedKeyedContainer<Key>(storage: storage, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let storage: ArrayStorage
        if case .array(let existing) = slot.content {
            storage = existing
        } else {
            storage = ArrayStorage()
            slot.content = .array(storage)
        }
        return OrderedUnkeyedContainer(storage: storage, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        OrderedSingleValueContainer(slot: slot, codingPath: codingPath)
    }
}

struct OrderedKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: ObjectStorage
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { storage.slot(for: key.stringValue).content = .null }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try storage.slot(for: key.stringValue).store(value, codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        OrderedEncoder(slot: storage.slot(for: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        OrderedEncoder(slot: storage.slot(for: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder {
        OrderedEncoder(slot: storage.slot(for: "super"), codingPath: codingPath)
    }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        OrderedEncoder(slot: storage.slot(for: key.stringValue), codingPath: codingPath + [key])
    }
}

struct OrderedUnkeyedContainer: UnkeyedEncodingContainer {
    let storage: ArrayStorage
    let codingPath: [any CodingKey]
    var count: Int { storage.elements.count }

    mutating func encodeNil() throws { storage.append().content = .null }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = IndexKey(count)
        try storage.append().store(value, codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = IndexKey(count)
        return OrderedEncoder(slot: storage.append(), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = IndexKey(count)
        return OrderedEncoder(slot: storage.append(), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder {
        let key = IndexKey(count)
        return OrderedEncoder(slot: storage.append(), codingPath: codingPath + [key])
    }
}

struct OrderedSingleValueContainer: SingleValueEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.content = .null }
    mutating func encode(_ value: Bool) throws { slot.content = .bool(value) }
    mutating func encode(_ value: String) throws { slot.content = .string(value) }
    mutating func encode(_ value: Double) throws { slot.content = .number(try Slot.format(value, codingPath)) }
    mutating func encode(_ value: Float) throws { slot.content = .number(try Slot.format(Double(value), codingPath)) }
    mutating func encode(_ value: Int) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: Int8) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: Int16) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: Int32) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: Int64) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: UInt) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: UInt8) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: UInt16) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: UInt32) throws { slot.content = .number(String(value)) }
    mutating func encode(_ value: UInt64) throws { slot.content = .number(String(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try slot.store(value, codingPath: codingPath) }
}

// MARK: - Case-insensitive decoding (Go's encoding/json rule)

/// Any JSON object key.
struct GoKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A JSON object read the way Go fills a struct: an exact key match wins, otherwise the first key equal
/// ignoring case; missing keys and `null` give nil (the caller substitutes Go's zero value); a top-level
/// `null` is an empty object; unknown keys are ignored.
struct GoObject {
    private enum Source {
        case null
        /// Read from a `JSONValue` (what `JSONValueDecoder` decodes from): members looked up directly.
        case members([String: JSONValue])
        case container(KeyedDecodingContainer<GoKey>)
    }

    private let source: Source

    init(_ decoder: any Decoder) throws {
        if let backed = decoder as? any JSONValueBackedDecoder {
            switch backed.jsonValue {
            case .null: source = .null
            case .object(let members): source = .members(members)
            default: source = .container(try decoder.container(keyedBy: GoKey.self))  // throws the type mismatch
            }
            return
        }
        if let single = try? decoder.singleValueContainer(), single.decodeNil() {
            source = .null
            return
        }
        source = .container(try decoder.container(keyedBy: GoKey.self))
    }

    /// The exact key, else (rarely: Go matches keys ignoring case) the first key equal to it ignoring case.
    private static func key(_ name: String, in container: KeyedDecodingContainer<GoKey>) -> GoKey? {
        let exact = GoKey(name)
        if container.contains(exact) { return exact }
        let folded = name.lowercased()
        return container.allKeys.first { $0.stringValue.lowercased() == folded }
    }

    private static func value(_ name: String, in members: [String: JSONValue]) -> JSONValue? {
        if let exact = members[name] { return exact }
        let folded = name.lowercased()
        return members.first { $0.key.lowercased() == folded }?.value
    }

    func decode<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T? {
        switch source {
        case .null:
            return nil
        case .members(let members):
            guard let value = Self.value(name, in: members) else { return nil }
            if case .null = value { return nil }
            return try JSONValueDecoder().decode(type, from: value)
        case .container(let container):
            guard let key = Self.key(name, in: container) else { return nil }
            if try container.decodeNil(forKey: key) { return nil }
            return try container.decode(type, forKey: key)
        }
    }

    // The scalars of every HTE body: read straight from the member when it has the plain type; anything else
    // (a missing member, null, a number in another form, a mismatch and its error) goes the general way.
    func int(_ name: String) throws -> Int {
        if case .members(let members) = source, case .int(let value)? = Self.value(name, in: members), let int = Int(exactly: value) {
            return int
        }
        return try decode(name, as: Int.self) ?? 0
    }

    func string(_ name: String) throws -> String {
        if case .members(let members) = source, case .string(let value)? = Self.value(name, in: members) { return value }
        return try decode(name, as: String.self) ?? ""
    }

    func bool(_ name: String) throws -> Bool {
        if case .members(let members) = source, case .bool(let value)? = Self.value(name, in: members) { return value }
        return try decode(name, as: Bool.self) ?? false
    }
}
