//! server (placeholder; being built).
