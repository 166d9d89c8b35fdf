//! Shared code of the Petrel command-line tools (`petreld`).
//!
//! Kept small on purpose: each binary in `src/bin/` is self-contained.
