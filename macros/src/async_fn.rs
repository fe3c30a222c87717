//! How a traced `async fn` becomes the plain `fn` that returns its future, so its span is started
//! (and takes its parent) at the call: the signature, the arguments the future must own, what
//! cannot be rewritten, and when another attribute macro needs the `async fn` kept.

use proc_macro2::Span;
use quote::{ToTokens, quote};
use syn::{Error, FnArg, Ident, Pat, ReturnType, Signature, Token};

use crate::params;

/// Rejects what the rewrite cannot keep: `-> !` and arguments bound by `ref`.
pub(crate) fn validate(sig: &Signature) -> syn::Result<()> {
    if let ReturnType::Type(_, ty) = &sig.output
        && let syn::Type::Never(never) = &**ty
    {
        return Err(Error::new_spanned(
            never,
            "a traced `async fn` cannot return `!` (its future's output would be `!`, which is unstable); \
             return `()`, or trace a plain `fn`",
        ));
    }
    let by_ref = sig.inputs.iter().find_map(|arg| match arg {
        FnArg::Typed(t) => params::ref_binding(&t.pat),
        FnArg::Receiver(_) => None,
    });
    if let Some(r) = by_ref {
        return Err(Error::new(
            r.span,
            "a traced `async fn` cannot bind an argument by `ref`: its future owns the arguments and a \
             reference into one cannot leave the call; bind it by value and borrow it in the body",
        ));
    }
    Ok(())
}

/// The signature of an `async fn` as the plain `fn` that returns its future:
/// `async fn f(x: &str) -> T` becomes `fn f(x: &str) -> impl Future<Output = T>`, so the span is
/// started, and its parent taken, when the function is called rather than when the future is
/// first polled.
///
/// The returned `impl Future` must capture every lifetime and type in scope, as the future of an
/// `async fn` does. Which ones an `impl Trait` captures depends on the edition of its `impl`
/// token: with 2024 rules, all of them (elided lifetimes, `impl Trait` arguments, the lifetimes
/// of the surrounding `impl` block); with 2021 rules only those it names. The `impl` token below
/// comes from this macro crate, which is edition 2024, so the rules are 2024's whatever the
/// edition of the crate using `#[traced]`; no lifetime has to be named and the signature the
/// callers see is the one written. `T` keeps the user's own tokens and edition.
pub(crate) fn future_signature(sig: &Signature) -> Signature {
    let mut sig = sig.clone();
    sig.asyncness = None;
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    sig.output = syn::parse_quote!(-> impl ::core::future::Future<Output = #output>);
    sig
}

/// How the future of an `async fn` owns the arguments, as rustc's desugaring does: every argument
/// is moved into the future at the call and dropped when the body is done.
pub(crate) struct Owned {
    /// Plain `name` arguments (and the names given to `_` ones), moved into locals of the body
    /// (`let mut name = name;`, with the argument's `mut`, which leaves the signature), so they
    /// drop when the body is done.
    pub(crate) moved: Vec<(Ident, Option<Token![mut]>)>,
    /// `self` and names bound by patterns, which cannot be rebound: the future captures them
    /// whole and they drop with it.
    pub(crate) captured: Vec<Ident>,
}

/// Prepares the arguments of an `async fn` for its future (see [`Owned`]): a `_` argument gets a
/// name (dropped at the call, it would not live as long as an `async fn`'s arguments do), a plain
/// argument loses its `mut` to the local that rebinds it. Arguments named in `skip` are the ones
/// an option's expression names, which may have moved them at the call: they are left to the
/// body.
pub(crate) fn own_arguments(sig: &mut Signature, skip: &[Ident]) -> Owned {
    let mut owned = Owned { moved: Vec::new(), captured: Vec::new() };
    for (i, arg) in sig.inputs.iter_mut().enumerate() {
        let pat = match arg {
            FnArg::Receiver(r) => {
                owned.captured.push(Ident::new("self", r.self_token.span));
                continue;
            }
            FnArg::Typed(t) => &mut *t.pat,
        };
        if matches!(pat, Pat::Wild(_)) {
            *pat = Pat::Ident(syn::PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: wildcard_name(i),
                subpat: None,
            });
        }
        match pat {
            Pat::Ident(p) if skip.contains(&p.ident) => {}
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() && p.ident != "self" => {
                owned.moved.push((p.ident.clone(), p.mutability.take()));
            }
            other => {
                let mut names = Vec::new();
                params::bound_names(other, &mut names);
                owned.captured.extend(names.into_iter().filter(|n| !skip.contains(n)));
            }
        }
    }
    owned
}

/// The name a `_` argument gets in the rewritten signature of an `async fn`.
fn wildcard_name(index: usize) -> Ident {
    Ident::new(&format!("__tw_arg{index}"), Span::call_site())
}

/// Whether an attribute macro follows on the function (`#[tokio::main]`, `#[tokio::test]`, a route
/// macro): it sees the function after this one and may need an `async fn`.
pub(crate) fn another_macro_follows(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| !is_inert(a))
}

/// Whether an attribute is one rustc, rustdoc or a lint tool defines.
fn is_inert(attr: &syn::Attribute) -> bool {
    const BUILTIN: [&str; 19] = [
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
        "cfg",
        "cfg_attr",
        "doc",
        "inline",
        "cold",
        "must_use",
        "deprecated",
        "track_caller",
        "no_mangle",
        "export_name",
        "link_section",
        "target_feature",
        "unsafe",
        "optimize",
    ];
    const TOOLS: [&str; 4] = ["rustfmt", "clippy", "rustdoc", "diagnostic"];
    let path = attr.path();
    match (path.segments.first(), path.segments.len()) {
        (Some(seg), 1) => BUILTIN.iter().any(|b| seg.ident == b),
        (Some(seg), _) => TOOLS.iter().any(|t| seg.ident == t),
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;

    use super::*;

    fn sig(text: &str) -> Signature {
        syn::parse_str::<syn::ItemFn>(text).unwrap().sig
    }

    #[test]
    fn plain_arguments_are_moved_and_patterns_captured() {
        let mut s = sig("async fn f(&self, mut a: u32, _: u8, (b, c): (u8, u8), tagged: String) {}");
        let owned = own_arguments(&mut s, &[Ident::new("tagged", Span::call_site())]);
        let moved: Vec<(String, bool)> = owned.moved.iter().map(|(i, m)| (i.to_string(), m.is_some())).collect();
        assert_eq!(moved, [("a".to_owned(), true), ("__tw_arg2".to_owned(), false)]);
        let captured: Vec<String> = owned.captured.iter().map(ToString::to_string).collect();
        assert_eq!(captured, ["self", "b", "c"], "`tagged` is left to the body");
        let inputs = s.inputs.to_token_stream().to_string();
        assert_eq!(inputs, "& self , a : u32 , __tw_arg2 : u8 , (b , c) : (u8 , u8) , tagged : String");
    }

    #[test]
    fn the_signature_returns_the_future_of_the_declared_output() {
        let s = future_signature(&sig("pub async fn f<'a, T>(x: &'a T, y: impl Copy) -> &'a T where T: Sync { x }"));
        assert!(s.asyncness.is_none());
        assert_eq!(s.output.to_token_stream().to_string(), "-> impl :: core :: future :: Future < Output = & 'a T >");
        let unit = future_signature(&sig("async fn g() {}"));
        assert_eq!(unit.output.to_token_stream().to_string(), "-> impl :: core :: future :: Future < Output = () >");
    }

    #[test]
    fn only_attribute_macros_keep_the_async_fn() {
        let attrs = |text: &str| syn::parse_str::<syn::ItemFn>(&format!("{text} async fn f() {{}}")).unwrap().attrs;
        assert!(!another_macro_follows(&attrs("#[doc = \"x\"] #[must_use] #[allow(dead_code)] #[rustfmt::skip]")));
        assert!(!another_macro_follows(&attrs(
            "#[deprecated(note = \"x\")] #[inline] #[clippy::cognitive_complexity = \"9\"]"
        )));
        assert!(another_macro_follows(&attrs("#[tokio::main]")));
        assert!(another_macro_follows(&attrs("#[doc = \"x\"] #[test_case(1)]")));
    }

    #[test]
    fn ref_bindings_and_never_are_refused() {
        let err = |text: &str| validate(&sig(text)).unwrap_err().to_string();
        assert!(err("async fn f((ref a, b): (String, u8)) {}").contains("cannot bind an argument by `ref`"));
        assert!(err("async fn f() -> ! { loop {} }").contains("cannot return `!`"));
        assert!(validate(&sig("async fn f(a: &str, (b, c): (u8, u8)) -> u8 { b }")).is_ok());
    }
}
