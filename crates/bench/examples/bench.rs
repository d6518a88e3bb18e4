//! `corvid bench` as a standalone binary, for use before (or without) the corvid binary.

fn main() -> std::process::ExitCode {
    bench::main(std::env::args_os().skip(1).collect())
}
