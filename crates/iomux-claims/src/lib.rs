//! The course notes' claims, checked on this machine: [`table`] lists them (the one source:
//! `iomux runs claims` and the web's claims page both read it), [`rules`] says whether each
//! held from a run's figures, and [`check`] finds the newest stored run that measures each.
pub mod check;
pub mod rules;
pub mod table;
