//! End-to-end tests: the real `iomux` binary, started on 127.0.0.1 port 0, driven over loopback.
//!
//! Tests that concern every I/O model are bodies `fn name(model: &str)`, instantiated once per
//! model by [`per_model!`], as the library's conformance suite is per backend.
#![allow(missing_docs)]

/// Runs test bodies once per I/O model of `iomux serve`.
///
/// In a test file, `per_model!(a, b);` (where `fn a(model: &str)` and `fn b(model: &str)` are
/// bodies of that file) expands to one module per model — `blocking`, `nonblocking`, `select`,
/// `poll`, `epoll`, `epoll_et`, `io_uring`, `io_uring_et`, `callbacks`, `uring` — each holding `#[test] fn a()` calling
/// `super::a("epoll-et")` (or that module's model), so a test is named `file::epoll_et::a` and
/// one failing model hides no other. `per_model!(@names)` is the array of the models' names as
/// `--model` spells them.
///
/// The models are listed once, in the `@models` arm below: to add one, add a line
/// `module_name = "name-for---model",` there. `cli::every_model_of_the_binary_is_tested`
/// checks that list against `iomux serve --list-models`.
macro_rules! per_model {
    (@names) => {
        per_model! { @models @names_of }
    };
    ($($body:ident),+ $(,)?) => {
        per_model! { @models @tests [$($body),+] }
    };
    // The one list of models: test module name = the model's name for `--model`.
    (@models $($then:tt)+) => {
        per_model! {
            $($then)+
            blocking = "blocking",
            nonblocking = "nonblocking",
            select = "select",
            poll = "poll",
            epoll = "epoll",
            epoll_et = "epoll-et",
            io_uring = "io-uring",
            io_uring_et = "io-uring-et",
            callbacks = "callbacks",
            uring = "uring",
        }
    };
    (@names_of $($module:ident = $model:literal,)+) => {
        [$($model),+]
    };
    (@tests $bodies:tt $($module:ident = $model:literal,)+) => {
        $(per_model! { @module $module $model $bodies })+
    };
    (@module $module:ident $model:literal [$($body:ident),+]) => {
        mod $module {
            $(
                #[test]
                fn $body() {
                    super::$body($model);
                }
            )+
        }
    };
}

mod bench;
mod browser;
mod claims;
mod cli;
mod faults;
mod load;
mod matrix;
mod seed;
mod store;
mod trace;
mod ugly;
mod uring;
mod util;
mod verdicts;
mod web;
