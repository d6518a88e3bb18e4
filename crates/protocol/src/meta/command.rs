//! Which meta command a line holds.

/// Which meta command a line holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `mg`: get.
    Get,
    /// `ms`: set (its data block follows the line).
    Set,
    /// `md`: delete.
    Delete,
    /// `ma`: arithmetic.
    Arithmetic,
    /// `me`: debug dump of an item's metadata.
    Debug,
    /// `mn`: no-op, marks the end of a quiet batch.
    NoOp,
}
