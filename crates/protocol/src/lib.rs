//! protocol (placeholder; being built).
