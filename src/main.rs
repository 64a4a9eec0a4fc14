//! The `kindling` binary: everything lives in the library; this only hands over the
//! arguments and exits with the code the command line chose.

fn main() {
    std::process::exit(kindling::cli::run(std::env::args_os()));
}
