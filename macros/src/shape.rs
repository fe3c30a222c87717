//! What a traced function returns, read from its signature: a plain value, a future, or an
//! iterator or stream (and how that is wrapped). Kept apart from the generation, as
//! tracing-attributes keeps its `AsyncInfo`: this decides *which* body to generate, `expand`
//! generates it.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::{Error, GenericArgument, PathArguments, PathSegment, ReturnType, Type, TypeParamBound};

use crate::attr::Mode;

/// What the return type is, syntactically.
pub(crate) enum Shape {
    /// Any value; `result` when the type's last path segment is `Result`.
    Value { result: bool, unit: bool, nameable: bool },
    /// A future from a plain `fn`: `impl Future<Output = T>`, `Pin<Box<dyn Future<Output = T> ..>>`
    /// (what `#[async_trait]` makes), `BoxFuture<'a, T>` / `LocalBoxFuture<'a, T>`, or
    /// `Box<dyn Future<Output = T> + Unpin ..>`.
    Future { result: bool, wrap: Wrapper, nameable: bool, output: Option<Type> },
    /// An iterator or a stream.
    Items { stream: bool, into_iter: bool, wrap: Wrapper, item_result: bool, nameable: bool, item: Option<Type> },
}

/// How a wrapped future, iterator or stream is returned as the declared type.
#[derive(Clone, Copy)]
pub(crate) enum Wrapper {
    /// `impl Future` / `impl Iterator` / `impl Stream`: returned as it is.
    Impl,
    /// `Box<dyn Iterator ..>`, `Box<dyn Future + Unpin ..>`.
    Boxed,
    /// `Pin<Box<dyn Stream ..>>`, `BoxStream<..>`, `Pin<Box<dyn Future ..>>`, `BoxFuture<..>`.
    Pinned,
}

/// Classifies the declared return type; `mode` is the `stream` / `iter` option, if given.
pub(crate) fn shape(output: &ReturnType, mode: Option<(Mode, Span)>) -> syn::Result<Shape> {
    let ReturnType::Type(_, ty) = output else {
        if let Some((_, span)) = mode {
            return Err(Error::new(span, "this function returns `()`, not a stream or an iterator; remove the option"));
        }
        return Ok(Shape::Value { result: false, unit: true, nameable: true });
    };
    let ty = strip_parens(ty);
    let nameable = !contains_impl(ty);
    // impl Iterator / IntoIterator / Stream / Future
    if let Type::ImplTrait(it) = ty {
        let iter_traits = ["Iterator", "IntoIterator", "Stream", "DoubleEndedIterator", "ExactSizeIterator"];
        if let Some(seg) = trait_bound(&it.bounds, &iter_traits) {
            let stream = seg.ident == "Stream";
            if let Some((m, span)) = mode
                && (m == Mode::Stream) != stream
            {
                return Err(Error::new(span, format!("the return type is `impl {}`; remove this option", seg.ident)));
            }
            let item = assoc(seg, "Item");
            return Ok(Shape::Items {
                stream,
                into_iter: seg.ident == "IntoIterator",
                wrap: Wrapper::Impl,
                item_result: item.is_some_and(is_result),
                nameable: false,
                item: item.filter(|t| !contains_impl(t)).cloned(),
            });
        }
        if let Some(seg) = trait_bound(&it.bounds, &["Future"]) {
            let output = assoc(seg, "Output");
            return Ok(Shape::Future {
                result: output.is_some_and(is_result),
                wrap: Wrapper::Impl,
                nameable: false,
                output: output.filter(|t| !contains_impl(t)).cloned(),
            });
        }
    }
    if mode.is_none()
        && let Some((wrap, output)) = boxed_future(ty)
    {
        return Ok(Shape::Future { result: output.is_some_and(is_result), wrap, nameable, output: None });
    }
    if let Some((m, span)) = mode {
        let stream = m == Mode::Stream;
        let last = last_segment(ty);
        let wrap = match last.map(|s| s.ident.to_string()).as_deref() {
            Some("Box") => Wrapper::Boxed,
            Some("Pin" | "BoxStream" | "LocalBoxStream") => Wrapper::Pinned,
            _ => {
                return Err(Error::new(
                    span,
                    format!(
                        "the traced {} cannot be returned as `{}`; return `impl {}<Item = ..>`, a `Box<dyn ..>` or a `Pin<Box<dyn ..>>`",
                        if stream { "stream" } else { "iterator" },
                        ty.to_token_stream(),
                        if stream { "Stream" } else { "Iterator" },
                    ),
                ));
            }
        };
        let names: &[&str] = if stream { &["Stream"] } else { &["Iterator"] };
        let item = pinned_dyn(ty, names)
            .or_else(|| boxed_dyn(ty, names))
            .and_then(|seg| assoc(seg, "Item"))
            .or_else(|| last.and_then(|s| last_type_arg(s)).filter(|_| matches!(wrap, Wrapper::Pinned)));
        return Ok(Shape::Items {
            stream,
            into_iter: false,
            wrap,
            item_result: item.is_some_and(is_result),
            nameable,
            item: None,
        });
    }
    let unit = matches!(ty, Type::Tuple(t) if t.elems.is_empty());
    Ok(Shape::Value { result: is_result(ty), unit, nameable })
}

/// A boxed future and its output type, if named: `Pin<Box<dyn Future ..>>` (what
/// `#[async_trait]` makes), futures' `BoxFuture<'a, T>` / `LocalBoxFuture<'a, T>` (by name), or
/// `Box<dyn Future + Unpin ..>` (a `Box<dyn Future>` that is not `Unpin` is no future).
fn boxed_future(ty: &Type) -> Option<(Wrapper, Option<&Type>)> {
    if let Some(seg) = pinned_dyn(ty, &["Future"]) {
        return Some((Wrapper::Pinned, assoc(seg, "Output")));
    }
    if let Some(seg) = last_segment(ty).filter(|s| s.ident == "BoxFuture" || s.ident == "LocalBoxFuture") {
        return Some((Wrapper::Pinned, last_type_arg(seg)));
    }
    let seg = last_segment(ty).filter(|s| s.ident == "Box")?;
    let Type::TraitObject(o) = strip_parens(first_type_arg(seg)?) else { return None };
    let future = trait_bound(&o.bounds, &["Future"])?;
    trait_bound(&o.bounds, &["Unpin"])?;
    Some((Wrapper::Boxed, assoc(future, "Output")))
}

fn strip_parens(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => strip_parens(&p.elem),
        Type::Group(g) => strip_parens(&g.elem),
        other => other,
    }
}

fn last_segment(ty: &Type) -> Option<&PathSegment> {
    match strip_parens(ty) {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

fn is_result(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Result")
}

fn type_args(seg: &PathSegment) -> impl Iterator<Item = &GenericArgument> {
    match &seg.arguments {
        PathArguments::AngleBracketed(a) => Some(a.args.iter()),
        _ => None,
    }
    .into_iter()
    .flatten()
}

fn last_type_arg(seg: &PathSegment) -> Option<&Type> {
    type_args(seg)
        .filter_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .last()
}

fn first_type_arg(seg: &PathSegment) -> Option<&Type> {
    type_args(seg).find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// The type bound to associated type `name` (`Item = T`).
fn assoc<'a>(seg: &'a PathSegment, name: &str) -> Option<&'a Type> {
    type_args(seg).find_map(|a| match a {
        GenericArgument::AssocType(t) if t.ident == name => Some(&t.ty),
        _ => None,
    })
}

fn trait_bound<'a>(
    bounds: &'a syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>,
    names: &[&str],
) -> Option<&'a PathSegment> {
    bounds.iter().find_map(|b| match b {
        TypeParamBound::Trait(t) => t.path.segments.last().filter(|s| names.iter().any(|n| s.ident == n)),
        _ => None,
    })
}

/// `Box<dyn Trait ..>` where `Trait` is one of `names`.
fn boxed_dyn<'a>(ty: &'a Type, names: &[&str]) -> Option<&'a PathSegment> {
    let seg = last_segment(ty).filter(|s| s.ident == "Box")?;
    match strip_parens(first_type_arg(seg)?) {
        Type::TraitObject(o) => trait_bound(&o.bounds, names),
        _ => None,
    }
}

/// `Pin<Box<dyn Trait ..>>` where `Trait` is one of `names`.
fn pinned_dyn<'a>(ty: &'a Type, names: &[&str]) -> Option<&'a PathSegment> {
    let seg = last_segment(ty).filter(|s| s.ident == "Pin")?;
    boxed_dyn(first_type_arg(seg)?, names)
}

/// Whether the type mentions `impl Trait` anywhere (then it cannot be written in a `let`).
fn contains_impl(ty: &Type) -> bool {
    ty.to_token_stream().into_iter().any(|t| has_impl(&t))
}

fn has_impl(t: &TokenTree) -> bool {
    match t {
        TokenTree::Ident(i) => i == "impl",
        TokenTree::Group(g) => g.stream().into_iter().any(|t| has_impl(&t)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(ret: &str) -> Shape {
        shape(&syn::parse_str::<ReturnType>(ret).unwrap(), None).unwrap()
    }

    #[test]
    fn boxed_futures() {
        assert!(matches!(
            classify("-> Pin<Box<dyn Future<Output = Result<u8, E>> + Send + '_>>"),
            Shape::Future { result: true, wrap: Wrapper::Pinned, nameable: true, .. }
        ));
        assert!(matches!(
            classify("-> BoxFuture<'static, Result<u8, E>>"),
            Shape::Future { result: true, wrap: Wrapper::Pinned, .. }
        ));
        assert!(matches!(
            classify("-> Box<dyn Future<Output = u8> + Unpin + Send>"),
            Shape::Future { result: false, wrap: Wrapper::Boxed, .. }
        ));
        // Not `Unpin`: a box that is no future, a plain value.
        assert!(matches!(classify("-> Box<dyn Future<Output = u8> + Send>"), Shape::Value { .. }));
    }

    #[test]
    fn impl_traits() {
        assert!(matches!(
            classify("-> impl Future<Output = u8> + Send"),
            Shape::Future { wrap: Wrapper::Impl, nameable: false, output: Some(_), .. }
        ));
        assert!(matches!(classify("-> impl Iterator<Item = u8> + '_"), Shape::Items { stream: false, .. }));
        assert!(matches!(classify("-> impl Copy"), Shape::Value { nameable: false, .. }));
        assert!(matches!(classify("-> Result<impl Iterator<Item = u8>, E>"), Shape::Value { result: true, .. }));
    }
}
