// A run of a million contacts makes tens of millions of small, short-lived
// allocations (rows, JSON values, rendered messages); mimalloc serves them
// in a fraction of the time glibc's malloc takes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = funnel::run(std::env::args_os(), &mut stdout.lock(), &mut stderr.lock());
    std::process::exit(code);
}
