//! Prints the random graph of each seed given on the command line.
fn main() {
    for a in std::env::args().skip(1) {
        if let Ok(seed) = a.parse::<u64>() {
            print!("{}", smelt_testsuite::random_graph::random_func(seed));
        }
    }
}
