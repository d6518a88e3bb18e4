//! channel (placeholder; being built).
