//! rosterd is linked with `hot-code.ld` (written by `bench/hot-code.sh`):
//! the functions uncached lookups run first in its `.text` (README,
//! "rosterd's lookup code linked together"; `hot_code_layout.rs` says
//! how and when).

mod hot_code_layout;

fn main() {
    hot_code_layout::link_hot_code("bins");
}
