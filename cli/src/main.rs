//! The `tablewright` binary; the command line itself is the `cli` library.

// The compiler builds and drops many small syntax trees; glibc's allocator spent about a
// third of `generate`'s time in malloc and free (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
