//! store (placeholder; being built).
