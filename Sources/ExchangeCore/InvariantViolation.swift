/// A broken invariant of a state machine's state (the matching engine's, a clearing
/// partition's): a bug, never a user error.
public struct InvariantViolation: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(description: String) { self.description = description }
}
