//! Attribute macros of tracewell: `#[traced]` and `#[monitor]`.
//!
//! Use them through the `tracewell` crate (`tracewell::traced`, `tracewell::monitor`), which
//! documents every option with examples. This crate only parses and validates the arguments and
//! generates calls into `tracewell::__private`; all span logic lives in the runtime.

mod async_fn;
mod attr;
mod expand;
mod params;
mod shape;

use proc_macro::TokenStream;

/// Records every call of the function as a span. See `tracewell::traced` for the options.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into(), expand::Attribute::Traced).into()
}

/// `#[traced]` for a named code path: `#[monitor(branch = "...")]`. See `tracewell::monitor`.
#[proc_macro_attribute]
pub fn monitor(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into(), expand::Attribute::Monitor).into()
}
