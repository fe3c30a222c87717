//! The `tracewell` command.

fn main() {
    eprintln!("tracewell: no subcommand yet");
    std::process::exit(2);
}
