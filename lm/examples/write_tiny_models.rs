//! Writes the tiny random models of the reference check, one directory per
//! family, for `lm/reference/make_reference.py`:
//!
//! ```sh
//! cargo run -p w2s-lm --example write_tiny_models -- /tmp/tiny-models
//! python3 lm/reference/make_reference.py /tmp/tiny-models > lm/reference/expected.json
//! ```

use std::path::PathBuf;

use w2s_lm::Family;
use w2s_lm::random_model::RandomModel;

/// The seed of the reference models (also in `tests/reference.rs`).
const SEED: u64 = 7;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: write_tiny_models DIR")?,
    );
    for family in Family::ALL {
        let dir = out.join(family.model_type());
        RandomModel::tiny(family).write(&dir, SEED)?;
        println!("{}", dir.display());
    }
    Ok(())
}
