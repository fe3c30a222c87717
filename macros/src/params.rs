//! The arguments of a traced function as the span sees them: the names they bind, patterns
//! included, and whether a pattern binds by `ref`.

use syn::punctuated::Punctuated;
use syn::{FnArg, Ident, Pat, Token};

/// An argument of the function as the span sees it.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) is_self: bool,
}

/// The function's arguments by bound name; patterns contribute every name they bind.
pub(crate) fn params(inputs: &Punctuated<FnArg, Token![,]>) -> Vec<Param> {
    let mut out = Vec::new();
    for arg in inputs {
        match arg {
            FnArg::Receiver(r) => out.push(Param { ident: Ident::new("self", r.self_token.span), is_self: true }),
            FnArg::Typed(t) => {
                let mut names = Vec::new();
                bound_names(&t.pat, &mut names);
                out.extend(names.into_iter().map(|ident| Param { is_self: ident == "self", ident }));
            }
        }
    }
    out
}

/// Every name a pattern binds, in order.
pub(crate) fn bound_names(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                bound_names(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| bound_names(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| bound_names(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| bound_names(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| bound_names(p, out)),
        Pat::Reference(r) => bound_names(&r.pat, out),
        Pat::Paren(p) => bound_names(&p.pat, out),
        Pat::Type(t) => bound_names(&t.pat, out),
        _ => {}
    }
}

/// The first `ref` / `ref mut` binding in a pattern.
pub(crate) fn ref_binding(pat: &Pat) -> Option<&syn::token::Ref> {
    match pat {
        Pat::Ident(p) => p.by_ref.as_ref().or_else(|| p.subpat.as_ref().and_then(|(_, sub)| ref_binding(sub))),
        Pat::Tuple(t) => t.elems.iter().find_map(ref_binding),
        Pat::TupleStruct(t) => t.elems.iter().find_map(ref_binding),
        Pat::Struct(s) => s.fields.iter().find_map(|f| ref_binding(&f.pat)),
        Pat::Slice(s) => s.elems.iter().find_map(ref_binding),
        Pat::Reference(r) => ref_binding(&r.pat),
        Pat::Paren(p) => ref_binding(&p.pat),
        Pat::Type(t) => ref_binding(&t.pat),
        _ => None,
    }
}
