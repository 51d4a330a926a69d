//! Raw declarations of the Surgeon C API, generated from `include/surgeon/surgeon.h` by the
//! bindgen CLI (`bindings/rust/regenerate.sh`) and checked in, so building needs no
//! libclang. Every function is `unsafe`; the `surgeon` crate is the safe wrapper.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]

include!("bindings.rs");
