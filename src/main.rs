//! The `kindling` binary: everything lives in the library; this only hands over the
//! arguments and exits with the code the command line chose.

fn main() {
    restore_default_sigpipe();
    std::process::exit(kindling::cli::run(std::env::args_os()));
}

/// A closed output (`kindling check spec.yaml | head -1`) ends kindling quietly, as it ends
/// `cat`. Rust programs start with SIGPIPE ignored, so every print to a closed pipe would
/// fail instead, and a failed print aborts the process.
fn restore_default_sigpipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; SIG_DFL is a
    // valid disposition for SIGPIPE and no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
