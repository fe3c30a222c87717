//! Generating the instrumented function: a static callsite, a span started through
//! `__private`, input capture, the body run so that `return` and `?` keep working, and output,
//! error, poll or item recording.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{
    Error, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, PathSegment, ReturnType, Type, TypeParamBound,
};

use crate::attr::{Args, Mode};

/// Which attribute is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    Traced,
    Monitor,
}

impl Which {
    fn attr(self) -> &'static str {
        match self {
            Which::Traced => "#[traced]",
            Which::Monitor => "#[monitor]",
        }
    }
}

/// The entry point of both attributes.
pub(crate) fn expand(args: TokenStream, item: TokenStream, which: Which) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => return not_a_function(item, which),
    };
    let result = syn::parse2::<Args>(args).and_then(|args| expand_fn(args, func, which));
    result.unwrap_or_else(|e| {
        // Still emit the user's item so one typo does not cascade into "cannot find function".
        let err = e.into_compile_error();
        quote!(#err #item)
    })
}

/// The item is not a function with a body: an error for other items and for declarations; for
/// a function whose body does not parse, the tokens unchanged so rustc reports the real error.
fn not_a_function(item: TokenStream, which: Which) -> TokenStream {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let mut i = 0;
    // Skip outer attributes and a visibility to find the item's keyword.
    loop {
        match tokens.get(i) {
            Some(TokenTree::Punct(p)) if p.as_char() == '#' => i += 2,
            Some(TokenTree::Ident(id)) if id == "pub" => {
                i += 1;
                if let Some(TokenTree::Group(g)) = tokens.get(i)
                    && g.delimiter() == proc_macro2::Delimiter::Parenthesis
                {
                    i += 1;
                }
            }
            _ => break,
        }
    }
    let is_fn = tokens[i..].iter().any(|t| matches!(t, TokenTree::Ident(id) if id == "fn"));
    let ends_with_semi = matches!(tokens.last(), Some(TokenTree::Punct(p)) if p.as_char() == ';');
    let keyword = tokens.get(i).cloned();
    let span = keyword.as_ref().map_or_else(Span::call_site, TokenTree::span);
    let attr = which.attr();
    let message = if is_fn && ends_with_semi {
        format!("{attr} needs a function with a body; put it on the implementation, not on the declaration")
    } else if is_fn {
        return item;
    } else {
        let what = keyword.map_or_else(|| "this item".to_owned(), |k| format!("`{k}` items"));
        format!("{attr} goes on a function or method (`fn`, `async fn`); {what} cannot be instrumented")
    };
    let err = Error::new(span, message).into_compile_error();
    quote!(#err #item)
}

/// An argument of the function as the span sees it.
struct Param {
    ident: Ident,
    is_self: bool,
}

/// What the return type is, syntactically.
enum Shape {
    /// Any value; `result` when the type's last path segment is `Result`.
    Value { result: bool, unit: bool, nameable: bool },
    /// `impl Future<Output = T>` or `Pin<Box<dyn Future<Output = T> ..>>` from a plain `fn`.
    Future { result: bool, boxed: bool, nameable: bool, output: Option<Type> },
    /// An iterator or a stream.
    Items { stream: bool, into_iter: bool, wrap: Wrapper, item_result: bool, nameable: bool, item: Option<Type> },
}

/// How a wrapped iterator or stream is returned as the declared type.
#[derive(Clone, Copy)]
enum Wrapper {
    /// `impl Iterator` / `impl Stream`: returned as it is.
    Impl,
    /// `Box<dyn Iterator ..>`.
    Boxed,
    /// `Pin<Box<dyn Stream ..>>`, `BoxStream<..>`.
    Pinned,
}

fn expand_fn(args: Args, func: ItemFn, which: Which) -> syn::Result<TokenStream> {
    let ItemFn { attrs, vis, sig, block } = func;
    if let Some(c) = &sig.constness {
        return Err(Error::new(
            c.span,
            format!(
                "{} cannot instrument a `const fn`: spans are recorded at run time; remove `const` or the attribute",
                which.attr()
            ),
        ));
    }
    if which == Which::Monitor && args.branch.is_none() {
        return Err(Error::new(
            Span::call_site(),
            "#[monitor] needs a branch: write `#[monitor(branch = \"...\")]`, or use #[traced] for a span without one",
        ));
    }

    let krate = args.krate.clone().map_or_else(|| quote!(::tracewell), ToTokens::into_token_stream);
    let pv = quote!(#krate::__private);

    // Inputs.
    let params = params(&sig.inputs);
    for s in &args.skip {
        if !params.iter().any(|p| p.ident == *s) {
            let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.ident.unraw())).collect();
            let have = if names.is_empty() {
                "the function has no arguments".to_owned()
            } else {
                format!("the arguments are {}", names.join(", "))
            };
            return Err(Error::new(s.span(), format!("`skip({s})` names no argument; {have}")));
        }
    }
    let inputs: Vec<&Param> = if args.skip_all {
        Vec::new()
    } else {
        params.iter().filter(|p| (!p.is_self || args.capture_self) && !args.skip.contains(&p.ident)).collect()
    };
    let input_names: Vec<String> = inputs.iter().map(|p| p.ident.unraw().to_string()).collect();

    // The callsite.
    let name = args.name.as_ref().map_or_else(|| sig.ident.unraw().to_string(), syn::LitStr::value);
    let mut callsite = quote!(#pv::Callsite::new(#name, ::core::module_path!(), &[#(#input_names),*]));
    if let Some(kind) = &args.kind {
        callsite.extend(quote!(.with_kind(#pv::SpanKind::#kind)));
    }
    if let Some(label) = &args.label {
        callsite.extend(quote!(.with_label(#label)));
    }
    if let Some(branch) = &args.branch {
        callsite.extend(quote!(.with_branch(#branch)));
    }
    if let Some(max_len) = &args.max_len {
        let n: usize = max_len.base10_parse()?;
        callsite.extend(quote!(.with_max_len(#n)));
    }

    let start = if args.parent.is_none() && args.sample.is_none() {
        quote!(#pv::start(&__TW_CALLSITE))
    } else {
        let parent = args
            .parent
            .as_ref()
            // Borrowed, so an argument used as the parent is still there to be captured.
            .map_or_else(|| quote!(::core::option::Option::<#pv::SpanContext>::None), |p| quote!(&(#p)));
        let sample = args
            .sample
            .as_ref()
            .map_or_else(|| quote!(::core::option::Option::None), |s| quote!(::core::option::Option::Some(#s)));
        quote!(#pv::start_with(&__TW_CALLSITE, #parent, #sample))
    };

    let captures = inputs.iter().enumerate().map(|(i, p)| {
        let id = &p.ident;
        quote!(__tw_span.__input(#i, |__tw_limit| (&&&&#pv::Wrap(&#id)).__tw_capture(__tw_limit));)
    });
    let tags = args.tags.iter().map(|(k, v)| quote!(__tw_span.set_tag(#k, #v);));
    let attributes = args.attributes.iter().map(|(k, v)| quote!(__tw_span.set_attribute(#k, #v);));
    let record_inputs = if inputs.is_empty() && args.tags.is_empty() && args.attributes.is_empty() {
        quote!()
    } else {
        quote! {
            if __tw_span.is_recording() {
                #[allow(unused_imports)]
                use #pv::{CaptureDebug as _, CaptureOpaque as _, CapturePrimitive as _, CaptureSerialize as _};
                #(#captures)*
                #(#tags)*
                #(#attributes)*
            }
        }
    };

    let shape = shape(&sig.output, args.mode)?;
    if let Some((span, option)) = args.items_option()
        && !matches!(shape, Shape::Items { .. })
    {
        return Err(Error::new(
            span,
            format!(
                "`{option}` needs a function that returns a stream or an iterator; add `stream` or `iter` if the type is named"
            ),
        ));
    }

    // Helps inference of the body (`?`, `.into()`, `collect()`) exactly as in the original fn.
    let fake_return = |nameable: bool| {
        if !nameable {
            return quote!();
        }
        let ReturnType::Type(_, ty) = &sig.output else { return quote!() };
        quote! {
            #[allow(
                unknown_lints, unreachable_code, clippy::diverging_sub_expression, clippy::let_unit_value,
                clippy::unreachable, clippy::empty_loop, clippy::never_loop
            )]
            if false {
                let __tw_fake_return: #ty = loop {};
                return __tw_fake_return;
            }
        }
    };

    let is_async = sig.asyncness.is_some();
    let body = match &shape {
        Shape::Value { result, unit, nameable } if is_async => {
            let fake = fake_return(*nameable);
            let hook = output_hook(&pv, *result, args.skip_output || *unit);
            quote! {
                #record_inputs
                #pv::instrument_with(__tw_span, async move { #fake #block }, #hook).await
            }
        }
        Shape::Value { result, unit, nameable } => {
            let fake = fake_return(*nameable);
            let record = record_output(&pv, &quote!(&__tw_out), *result, args.skip_output || *unit);
            quote! {
                let mut __tw_span = __tw_span.enter();
                #record_inputs
                #[allow(clippy::redundant_closure_call)]
                let __tw_out = (move || { #fake #block })();
                #record
                __tw_out
            }
        }
        Shape::Future { result, boxed, nameable, output } => {
            if is_async {
                return Err(Error::new(
                    sig.output.span(),
                    "an `async fn` returning a future is not supported; return the output type, or make it a plain `fn`",
                ));
            }
            let fake = fake_return(*nameable);
            let hook = output_hook(&pv, *result, args.skip_output);
            let pin_output = output.as_ref().map(|t| quote!(let __tw_fut = #pv::future_of::<#t, _>(__tw_fut);));
            let wrapped = quote!(#pv::instrument_with(__tw_span, __tw_fut, #hook));
            let wrapped = if *boxed { quote!(::std::boxed::Box::pin(#wrapped)) } else { wrapped };
            quote! {
                #record_inputs
                #[allow(clippy::redundant_closure_call)]
                let __tw_fut = (move || { #fake #block })();
                #pin_output
                #wrapped
            }
        }
        Shape::Items { stream, into_iter, wrap, item_result, nameable, item } => {
            let fake = fake_return(*nameable);
            let mode = if args.skip_output {
                quote!(#pv::ItemCapture::Count)
            } else if args.capture_last_item.is_some() {
                quote!(#pv::ItemCapture::Last)
            } else if let Some(n) = &args.capture_items {
                let n: usize = n.base10_parse()?;
                quote!(#pv::ItemCapture::First(#n))
            } else {
                quote!(#pv::ItemCapture::Count)
            };
            let value = if args.skip_output || (args.capture_last_item.is_none() && args.capture_items.is_none()) {
                quote!(|_, _| #pv::Value::Null)
            } else {
                quote!(|__tw_item, __tw_limit| {
                    #[allow(unused_imports)]
                    use #pv::{CaptureDebug as _, CaptureOpaque as _, CapturePrimitive as _, CaptureSerialize as _};
                    (&&&&#pv::Wrap(__tw_item)).__tw_capture(__tw_limit)
                })
            };
            let error = if *item_result {
                quote!(|__tw_item, __tw_limit| match __tw_item {
                    ::core::result::Result::Ok(_) => ::core::option::Option::None,
                    ::core::result::Result::Err(__tw_e) => {
                        #[allow(unused_imports)]
                        use #pv::{ErrorDebug as _, ErrorDisplay as _, ErrorOpaque as _};
                        ::core::option::Option::Some((
                            (&&&#pv::Wrap(__tw_e)).__tw_error_message(__tw_limit),
                            ::core::any::type_name_of_val(__tw_e),
                        ))
                    }
                })
            } else {
                quote!(|_, _| ::core::option::Option::None)
            };
            let pin_item = item.as_ref().map(|t| {
                if *stream {
                    quote!(let __tw_inner = #pv::stream_of::<#t, _>(__tw_inner);)
                } else {
                    quote!(let __tw_inner = #pv::iter_of::<#t, _>(__tw_inner);)
                }
            });
            let inner =
                if *into_iter { quote!(::core::iter::IntoIterator::into_iter(__tw_inner)) } else { quote!(__tw_inner) };
            let ctor = if *stream { quote!(#pv::traced_stream) } else { quote!(#pv::traced_iter) };
            let wrapped = quote!(#ctor(__tw_span, #inner, #mode, #value, #error));
            let wrapped = match wrap {
                Wrapper::Impl => wrapped,
                Wrapper::Boxed => quote!(::std::boxed::Box::new(#wrapped)),
                Wrapper::Pinned => quote!(::std::boxed::Box::pin(#wrapped)),
            };
            if is_async {
                // The span covers making the stream too: current while the body is polled.
                quote! {
                    #record_inputs
                    let __tw_inner = #pv::with_context(__tw_span.context().clone(), async move { #fake #block }).await;
                    #pin_item
                    #wrapped
                }
            } else {
                quote! {
                    #record_inputs
                    let __tw_inner = {
                        let __tw_current = #pv::set_current(__tw_span.context().clone());
                        #[allow(clippy::redundant_closure_call)]
                        let __tw_inner = (move || { #fake #block })();
                        drop(__tw_current);
                        __tw_inner
                    };
                    #pin_item
                    #wrapped
                }
            }
        }
    };

    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            static __TW_CALLSITE: #pv::Callsite = #callsite;
            #[allow(unused_mut)]
            let mut __tw_span = #start;
            #body
        }
    })
}

/// The closure given to `instrument_with` that records a future's output.
fn output_hook(pv: &TokenStream, result: bool, skip_output: bool) -> TokenStream {
    if skip_output && !result {
        return quote!(|_, _| {});
    }
    let record = record_output(pv, &quote!(__tw_out), result, skip_output);
    quote!(|__tw_span, __tw_out| { #record })
}

/// Records `out` (an expression of type `&Ret`) on `__tw_span`.
fn record_output(pv: &TokenStream, out: &TokenStream, result: bool, skip_output: bool) -> TokenStream {
    let capture = |v: TokenStream| {
        quote! {{
            #[allow(unused_imports)]
            use #pv::{CaptureDebug as _, CaptureOpaque as _, CapturePrimitive as _, CaptureSerialize as _};
            __tw_span.__output(|__tw_limit| (&&&&#pv::Wrap(#v)).__tw_capture(__tw_limit));
        }}
    };
    if !result {
        return if skip_output { quote!() } else { capture(out.clone()) };
    }
    let ok = if skip_output {
        quote!(::core::result::Result::Ok(_) => {})
    } else {
        let c = capture(quote!(__tw_v));
        quote!(::core::result::Result::Ok(__tw_v) => #c)
    };
    quote! {
        match #out {
            #ok
            ::core::result::Result::Err(__tw_e) => {
                #[allow(unused_imports)]
                use #pv::{ErrorDebug as _, ErrorDisplay as _, ErrorOpaque as _};
                __tw_span.__error(
                    |__tw_limit| (&&&#pv::Wrap(__tw_e)).__tw_error_message(__tw_limit),
                    ::core::any::type_name_of_val(__tw_e),
                );
            }
        }
    }
}

/// The function's arguments by bound name; patterns contribute every name they bind.
fn params(inputs: &syn::punctuated::Punctuated<FnArg, syn::Token![,]>) -> Vec<Param> {
    let mut out = Vec::new();
    for arg in inputs {
        match arg {
            FnArg::Receiver(r) => {
                out.push(Param { ident: Ident::new("self", r.self_token.span), is_self: true });
            }
            FnArg::Typed(t) => bound_names(&t.pat, &mut out),
        }
    }
    out
}

fn bound_names(pat: &Pat, out: &mut Vec<Param>) {
    match pat {
        Pat::Ident(p) => {
            let is_self = p.ident == "self";
            out.push(Param { ident: p.ident.clone(), is_self });
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

fn shape(output: &ReturnType, mode: Option<(Mode, Span)>) -> syn::Result<Shape> {
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
                boxed: false,
                nameable: false,
                output: output.filter(|t| !contains_impl(t)).cloned(),
            });
        }
    }
    // Pin<Box<dyn Future<Output = T> ..>> (what #[async_trait] makes)
    if let Some(seg) = pinned_dyn(ty, &["Future"])
        && mode.is_none()
    {
        return Ok(Shape::Future {
            result: assoc(seg, "Output").is_some_and(is_result),
            boxed: true,
            nameable,
            output: None,
        });
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
