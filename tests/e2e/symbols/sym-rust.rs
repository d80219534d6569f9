// SPDX-License-Identifier: Apache-2.0
// Rust fixture (std only, no crates): a generic and a plain function, never inlined, whose
// mangled names (legacy or v0, by rustc flag) must come back demangled.
use std::time::{Duration, Instant};

pub struct Spinner {
    pub k: u64,
}

impl Spinner {
    #[inline(never)]
    pub fn spin_rust(&self, n: u64) -> u64 {
        let mut s = self.k;
        for i in 0..n {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(i ^ (s >> 13));
        }
        s
    }
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let sp = Spinner { k: 7 };
    let mut acc = 0u64;
    while Instant::now() < end {
        acc = acc.wrapping_add(sp.spin_rust(200000));
    }
    if acc == 42 {
        println!("{}", acc);
    }
}
