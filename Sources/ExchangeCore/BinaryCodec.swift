/// Appends little-endian integers and LEB128 varints to a byte array.
///
/// The building block of `LogCodec`; one writer per entry, never shared across threads.
public struct BinaryWriter: Sendable {
    /// What was written so far. (Stored under another name so the writes below can be
    /// `@inlinable`: encoders in other modules write byte by byte.)
    @usableFromInline var storage: [UInt8]
    public var bytes: [UInt8] { storage }

    @inlinable
    public init(capacity: Int = 64) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    @inlinable
    public mutating func removeAll() { storage.removeAll(keepingCapacity: true) }

    @inlinable
    public mutating func writeByte(_ value: UInt8) { storage.append(value) }

    /// Unsigned LEB128: 1 byte below 128, at most 10 bytes.
    @inlinable
    public mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            storage.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        storage.append(UInt8(value))
    }

    /// Zig-zag then LEB128, so small negative numbers stay short.
    @inlinable
    public mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// `bytes` as they are (no length).
    @inlinable
    public mutating func writeBytes(_ bytes: [UInt8]) { storage.append(contentsOf: bytes) }

    @inlinable
    public mutating func writeFixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { storage.append(contentsOf: $0) }
    }

    /// A varint length then `bytes`.
    public mutating func writeBlock(_ bytes: [UInt8]) {
        writeVarint(UInt64(bytes.count))
        storage.append(contentsOf: bytes)
    }

    /// A varint length then the UTF-8 bytes.
    @inlinable
    public mutating func writeString(_ value: String) {
        writeVarint(UInt64(value.utf8.count))
        storage.append(contentsOf: value.utf8)
    }
}

/// Reads what `BinaryWriter` wrote; every read checks bounds and throws on truncation.
public struct BinaryReader<Bytes: RandomAccessCollection<UInt8>> where Bytes.Index == Int {
    public let bytes: Bytes
    /// The next byte to read. (Set only by the reads; `@usableFromInline` so the reads can be
    /// inlined, and specialized, in the modules that decode: a generic call per byte costs
    /// a type-metadata lookup.)
    @usableFromInline var position: Int
    public var offset: Int { position }

    @inlinable
    public init(_ bytes: Bytes) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    @inlinable public var isAtEnd: Bool { position == bytes.endIndex }

    @inlinable public mutating func readByte() throws(BinaryDecodingError) -> UInt8 {
        guard position < bytes.endIndex else { throw .truncated }
        defer { position += 1 }
        return bytes[position]
    }

    @inlinable public mutating func readVarint() throws(BinaryDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            if shift == 63, byte > 1 { throw .varintOverflow }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { throw .varintOverflow }
        }
    }

    /// Moves past `count` bytes.
    @inlinable public mutating func skip(_ count: Int) throws(BinaryDecodingError) {
        guard count >= 0, bytes.endIndex - position >= count else { throw .truncated }
        position += count
    }

    @inlinable public mutating func readSignedVarint() throws(BinaryDecodingError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    @inlinable public mutating func readFixed64() throws(BinaryDecodingError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: UInt64(0), to: 64, by: 8) {
            value |= UInt64(try readByte()) << shift
        }
        return value
    }

    /// Reads a string of at most `maximumLength` UTF-8 bytes.
    @inlinable public mutating func readString(maximumLength: Int) throws(BinaryDecodingError) -> String {
        let length = try readVarint()
        guard length <= UInt64(maximumLength) else { throw .invalidValue("string too long") }
        let count = Int(length)
        guard bytes.endIndex - position >= count else { throw .truncated }
        let slice = bytes[position..<(position + count)]
        position += count
        guard let string = String(validating: slice, as: UTF8.self) else { throw .invalidValue("invalid UTF-8") }
        return string
    }

    /// Reads what `writeBlock` wrote: at most `maximumLength` bytes.
    public mutating func readBlock(maximumLength: Int) throws(BinaryDecodingError) -> [UInt8] {
        let length = try readVarint()
        guard length <= UInt64(maximumLength) else { throw .invalidValue("block of \(length) bytes") }
        let count = Int(length)
        guard bytes.endIndex - position >= count else { throw .truncated }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    /// Reads a byte that must be a raw value of `T`.
    @inlinable public mutating func readEnum<T: RawRepresentable>(_ type: T.Type) throws(BinaryDecodingError) -> T where T.RawValue == UInt8 {
        let raw = try readByte()
        guard let value = T(rawValue: raw) else { throw .invalidValue("\(T.self) \(raw)") }
        return value
    }
}

/// Why bytes could not be decoded.
public enum BinaryDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case varintOverflow
    case unsupportedVersion(UInt8)
    case unknownTag(UInt8)
    case trailingBytes
    case invalidValue(String)

    public var description: String {
        switch self {
        case .truncated: "truncated entry"
        case .varintOverflow: "varint longer than 64 bits"
        case .unsupportedVersion(let version): "unsupported codec version \(version)"
        case .unknownTag(let tag): "unknown tag \(tag)"
        case .trailingBytes: "bytes after the end of the entry"
        case .invalidValue(let what): "invalid value: \(what)"
        }
    }
}
