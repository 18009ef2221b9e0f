//! The experiments, one file each: its parameters (`Params`, which are its command line and its
//! record), what it measures (`measure`) and how it shows it (`render`).
pub mod busy;
pub mod echo;
pub mod fixed_rate;
pub mod http;
pub mod idle;
pub mod python;
pub mod soak;
pub mod store;
pub mod wait;
