//! Generating the instrumented function, in the steps of tracing-attributes' `gen_function` /
//! `gen_block`: a static [`callsite`](Expansion::callsite), a span started through `__private`,
//! the [inputs recorded](Expansion::record_inputs), then the [body](Expansion::body) for the
//! return [`Shape`], run so that `return` and `?` keep working, with output, error, poll or item
//! recording. An `async fn` becomes the `fn` that returns its future ([`async_fn`]), so all of
//! this happens at the call.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Block, Error, Ident, ItemFn, ReturnType, Signature};

use crate::async_fn;
use crate::attr::Args;
use crate::params::{Param, params};
use crate::shape::{Shape, Wrapper, shape};

/// The attribute being expanded: `#[traced]` or `#[monitor]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attribute {
    Traced,
    Monitor,
}

impl Attribute {
    fn name(self) -> &'static str {
        match self {
            Attribute::Traced => "#[traced]",
            Attribute::Monitor => "#[monitor]",
        }
    }
}

/// The entry point of both attributes.
pub(crate) fn expand(args: TokenStream, item: TokenStream, attribute: Attribute) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => return not_a_function(item, attribute),
    };
    let result = syn::parse2::<Args>(args).and_then(|args| expand_fn(&args, func, attribute));
    result.unwrap_or_else(|e| {
        // Still emit the user's item so one typo does not cascade into "cannot find function".
        let err = e.into_compile_error();
        quote!(#err #item)
    })
}

/// The item is not a function with a body: an error for other items and for declarations; for
/// a function whose body does not parse, the tokens unchanged so rustc reports the real error.
fn not_a_function(item: TokenStream, attribute: Attribute) -> TokenStream {
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
    let attr = attribute.name();
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

/// What every step of the generation needs: the options, the path of `__private`, the
/// function's signature and body, and the arguments to capture.
struct Expansion<'a> {
    args: &'a Args,
    /// `<crate>::__private`.
    pv: TokenStream,
    sig: &'a Signature,
    block: &'a Block,
    /// The captured arguments, in order (the callsite's input names).
    inputs: Vec<Param>,
    /// For an `async fn`: how its future owns the arguments.
    owned: Option<async_fn::Owned>,
}

fn expand_fn(args: &Args, func: ItemFn, attribute: Attribute) -> syn::Result<TokenStream> {
    let ItemFn { attrs, vis, mut sig, block } = func;
    // `#![inner]` attributes of the body go back at the start of the body, not before the `fn`.
    let (inner, attrs): (Vec<_>, Vec<_>) = attrs.into_iter().partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    validate(args, &sig, attribute)?;
    let inputs = captured_inputs(args, &sig)?;
    // After the inputs are known: the names given to `_` arguments are not inputs.
    let owned = sig.asyncness.is_some().then(|| async_fn::own_arguments(&mut sig, &option_idents(args)));
    let krate = args.krate.clone().map_or_else(|| quote!(::tracewell), ToTokens::into_token_stream);
    let ex = Expansion { args, pv: quote!(#krate::__private), sig: &sig, block: &block, inputs, owned };

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

    let pv = &ex.pv;
    let callsite = ex.callsite()?;
    // A future's clock starts at its first poll: no clock read at the call.
    let future = sig.asyncness.is_some() || matches!(shape, Shape::Future { .. });
    let start = ex.start(future);
    let body = ex.body(&shape)?;
    let body = quote! {
        static __TW_CALLSITE: #pv::Callsite = #callsite;
        #[allow(unused_mut)]
        let mut __tw_span = #start;
        #body
    };
    if sig.asyncness.is_none() {
        return Ok(quote!(#(#attrs)* #vis #sig { #(#inner)* #body }));
    }
    // An `async fn` body evaluates to the instrumented future, made when the function is called.
    if async_fn::another_macro_follows(&attrs) {
        // Another attribute macro follows and may need an `async fn` (`#[tokio::main]`,
        // `#[tokio::test]`, a route macro): keep one, whose future is ours, awaited. The span
        // then starts at the first poll, as every other part of such a function does.
        return Ok(quote!(#(#attrs)* #vis #sig { #(#inner)* let __tw_fut = { #body }; __tw_fut.await }));
    }
    let sig = async_fn::future_signature(&sig);
    Ok(quote!(#(#attrs)* #vis #sig { #(#inner)* #body }))
}

/// Rejects what cannot be instrumented at all, before anything is generated.
fn validate(args: &Args, sig: &Signature, attribute: Attribute) -> syn::Result<()> {
    if let Some(c) = &sig.constness {
        return Err(Error::new(
            c.span,
            format!(
                "{} cannot instrument a `const fn`: spans are recorded at run time; remove `const` or the attribute",
                attribute.name()
            ),
        ));
    }
    if attribute == Attribute::Monitor && args.branch.is_none() {
        return Err(Error::new(
            Span::call_site(),
            "#[monitor] needs a branch: write `#[monitor(branch = \"...\")]`, or use #[traced] for a span without one",
        ));
    }
    if sig.asyncness.is_some() {
        async_fn::validate(sig)?;
    }
    Ok(())
}

/// The arguments to capture, after `skip`, `skip_all` and `capture_self`; a `skip` naming no
/// argument is an error.
fn captured_inputs(args: &Args, sig: &Signature) -> syn::Result<Vec<Param>> {
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
    if args.skip_all {
        return Ok(Vec::new());
    }
    Ok(params.into_iter().filter(|p| (!p.is_self || args.capture_self) && !args.skip.contains(&p.ident)).collect())
}

impl Expansion<'_> {
    /// The `static` describing the function: name, module, input names, kind, label, branch.
    fn callsite(&self) -> syn::Result<TokenStream> {
        let (args, pv) = (self.args, &self.pv);
        let input_names: Vec<String> = self.inputs.iter().map(|p| p.ident.unraw().to_string()).collect();
        let name = args.name.as_ref().map_or_else(|| self.sig.ident.unraw().to_string(), syn::LitStr::value);
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
        Ok(callsite)
    }

    /// The expression starting the span: under the current span, or under `parent`, sampled by
    /// `sample`; for a `future`, without reading the clock (its first poll does).
    fn start(&self, future: bool) -> TokenStream {
        let (args, pv) = (self.args, &self.pv);
        if args.parent.is_none() && args.sample.is_none() {
            return if future { quote!(#pv::start_future(&__TW_CALLSITE)) } else { quote!(#pv::start(&__TW_CALLSITE)) };
        }
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
    }

    /// Records the captured arguments, the tags and the attributes on `__tw_span`, only when it
    /// is recording.
    fn record_inputs(&self) -> TokenStream {
        let (args, pv) = (self.args, &self.pv);
        if self.inputs.is_empty() && args.tags.is_empty() && args.attributes.is_empty() {
            return quote!();
        }
        let captures = self.inputs.iter().enumerate().map(|(i, p)| {
            let id = &p.ident;
            quote!(__tw_span.__input(#i, |__tw_limit| (&&&&#pv::Wrap(&#id)).__tw_capture(__tw_limit));)
        });
        let tags = args.tags.iter().map(|(k, v)| quote!(__tw_span.set_tag(#k, #v);));
        let attributes = args.attributes.iter().map(|(k, v)| quote!(__tw_span.set_attribute(#k, #v);));
        let prelude = capture_prelude(pv);
        quote! {
            #[allow(clippy::used_underscore_binding)]
            if __tw_span.is_recording() {
                #prelude
                #(#captures)*
                #(#tags)*
                #(#attributes)*
            }
        }
    }

    /// The declared return type, when it can be written inside the body (not `impl Trait`, not
    /// `!`): given to the closure or `async` block that runs the body, it drives inference
    /// (`?`, `.into()`, `collect()`) as in the original function, from outside the body, so
    /// nothing the body declares (a `use`, a local type) changes what it means.
    fn declared(&self, nameable: bool) -> TokenStream {
        match &self.sig.output {
            ReturnType::Type(_, ty) if nameable && !matches!(**ty, syn::Type::Never(_)) => ty.to_token_stream(),
            ReturnType::Default => quote!(()),
            ReturnType::Type(..) => quote!(_),
        }
    }

    /// Runs the body now: a closure called at once, so `return` and `?` leave the body only.
    /// The user's block is the closure's body, not nested in another block, so a one-line body
    /// raises no `unused_braces`.
    fn run_body(&self, nameable: bool) -> TokenStream {
        let (pv, block, ty) = (&self.pv, self.block, self.declared(nameable));
        quote!(#pv::value_of::<#ty, _>(move || #block))
    }

    /// The body of an `async fn` as a future, not yet polled: an `async` block that owns every
    /// argument (see [`own_arguments`](Self::own_arguments)), with the body's own braces.
    fn body_future(&self, nameable: bool) -> TokenStream {
        let (pv, ty) = (&self.pv, self.declared(nameable));
        let own = self.own_arguments();
        let stmts = &self.block.stmts;
        let mut body = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote!(#own #(#stmts)*));
        body.set_span(self.block.brace_token.span.join());
        quote!(#pv::future_of::<#ty, _>(async move #body))
    }

    /// The first statements of an `async fn`'s body: they move the arguments into the future,
    /// whole, as an `async fn`'s future does (an `async` block alone would capture only what the
    /// body uses, and only the fields it uses): plain arguments into locals, which drop when the
    /// body is done, the others by naming them (see [`async_fn::Owned`]).
    fn own_arguments(&self) -> TokenStream {
        let Some(owned) = &self.owned else { return quote!() };
        let mut out = quote!();
        if !owned.moved.is_empty() {
            let pats = owned.moved.iter().map(|(name, mutability)| quote!(#mutability #name));
            let names = owned.moved.iter().map(|(name, _)| name);
            out.extend(quote! {
                #[allow(unused_variables, clippy::used_underscore_binding)]
                let (#(#pats,)*) = (#(#names,)*);
            });
        }
        if !owned.captured.is_empty() {
            let names = &owned.captured;
            out.extend(quote! {
                #[allow(clippy::used_underscore_binding)]
                let _ = (#(&#names,)*);
            });
        }
        out
    }

    /// The function body after the span is started, for each return shape.
    fn body(&self, shape: &Shape) -> syn::Result<TokenStream> {
        match shape {
            Shape::Value { result, unit, nameable } => Ok(self.value_body(*result, *unit, *nameable)),
            Shape::Future { result, wrap, nameable, output } => {
                self.future_body(*result, *wrap, *nameable, output.as_ref())
            }
            Shape::Items { stream, into_iter, wrap, item_result, nameable, item } => {
                self.items_body(*stream, *into_iter, *wrap, *item_result, *nameable, item.as_ref())
            }
        }
    }

    /// A plain value: the span is current while the body runs (an `async fn`: while it is polled).
    fn value_body(&self, result: bool, unit: bool, nameable: bool) -> TokenStream {
        let pv = &self.pv;
        let record_inputs = self.record_inputs();
        let skip_output = self.args.skip_output || unit;
        if self.sig.asyncness.is_some() {
            let hook = output_hook(pv, result, skip_output);
            let body = self.body_future(nameable);
            return quote! {
                #record_inputs
                #pv::instrument_with(__tw_span, #body, #hook)
            };
        }
        if matches!(&self.sig.output, ReturnType::Type(_, ty) if matches!(**ty, syn::Type::Never(_))) {
            // `-> !`: nothing to record after the body, which never returns.
            let stmts = &self.block.stmts;
            return quote! {
                let mut __tw_span = __tw_span.enter();
                #record_inputs
                #(#stmts)*
            };
        }
        let record = record_output(pv, &quote!(&__tw_out), result, skip_output);
        let run = self.run_body(nameable);
        quote! {
            let mut __tw_span = __tw_span.enter();
            #record_inputs
            let __tw_out = #run;
            #record
            __tw_out
        }
    }

    /// A plain `fn` returning a future: the span covers the future it returns.
    fn future_body(
        &self,
        result: bool,
        wrap: Wrapper,
        nameable: bool,
        output: Option<&syn::Type>,
    ) -> syn::Result<TokenStream> {
        let pv = &self.pv;
        if self.sig.asyncness.is_some() {
            return Err(Error::new(
                self.sig.output.span(),
                "an `async fn` returning a future is not supported; return the output type, or make it a plain `fn`",
            ));
        }
        let record_inputs = self.record_inputs();
        let hook = output_hook(pv, result, self.args.skip_output);
        let pin_output = output.map(|t| quote!(let __tw_fut = #pv::future_of::<#t, _>(__tw_fut);));
        let wrapped = quote!(#pv::instrument_with(__tw_span, __tw_fut, #hook));
        let wrapped = wrap_as(wrap, wrapped);
        let run = self.run_body(nameable);
        Ok(quote! {
            #record_inputs
            let __tw_fut = #run;
            #pin_output
            #wrapped
        })
    }

    /// An iterator or a stream: one span from the call to exhaustion.
    fn items_body(
        &self,
        stream: bool,
        into_iter: bool,
        wrap: Wrapper,
        item_result: bool,
        nameable: bool,
        item: Option<&syn::Type>,
    ) -> syn::Result<TokenStream> {
        let (args, pv) = (self.args, &self.pv);
        let record_inputs = self.record_inputs();
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
            let prelude = capture_prelude(pv);
            quote!(|__tw_item, __tw_limit| {
                #prelude
                (&&&&#pv::Wrap(__tw_item)).__tw_capture(__tw_limit)
            })
        };
        let error = if item_result {
            let prelude = error_prelude(pv);
            quote!(|__tw_item, __tw_limit| match __tw_item {
                ::core::result::Result::Ok(_) => ::core::option::Option::None,
                ::core::result::Result::Err(__tw_e) => {
                    #prelude
                    ::core::option::Option::Some((
                        (&&&#pv::Wrap(__tw_e)).__tw_error_message(__tw_limit),
                        ::core::any::type_name_of_val(__tw_e),
                    ))
                }
            })
        } else {
            quote!(|_, _| ::core::option::Option::None)
        };
        let pin_item = item.map(|t| {
            if stream {
                quote!(let __tw_inner = #pv::stream_of::<#t, _>(__tw_inner);)
            } else {
                quote!(let __tw_inner = #pv::iter_of::<#t, _>(__tw_inner);)
            }
        });
        let inner =
            if into_iter { quote!(::core::iter::IntoIterator::into_iter(__tw_inner)) } else { quote!(__tw_inner) };
        let ctor = if stream { quote!(#pv::traced_stream) } else { quote!(#pv::traced_iter) };
        let wrapped = quote!(#ctor(__tw_span, #inner, #mode, #value, #error));
        let wrapped = wrap_as(wrap, wrapped);
        if self.sig.asyncness.is_some() {
            // The span covers making the stream too: current while the body is polled.
            let body = self.body_future(nameable);
            return Ok(quote! {
                #record_inputs
                let __tw_made = #pv::made_under(__tw_span, #body);
                async move {
                    let (__tw_span, __tw_inner) = __tw_made.await;
                    #pin_item
                    #wrapped
                }
            });
        }
        let run = self.run_body(nameable);
        Ok(quote! {
            #record_inputs
            let __tw_inner = {
                let __tw_current = #pv::set_current(__tw_span.context().clone());
                let __tw_inner = #run;
                drop(__tw_current);
                __tw_inner
            };
            #pin_item
            #wrapped
        })
    }
}

/// The wrapped future, iterator or stream as the declared return type expects it.
fn wrap_as(wrap: Wrapper, wrapped: TokenStream) -> TokenStream {
    match wrap {
        Wrapper::Impl => wrapped,
        Wrapper::Boxed => quote!(::std::boxed::Box::new(#wrapped)),
        Wrapper::Pinned => quote!(::std::boxed::Box::pin(#wrapped)),
    }
}

/// Brings the value-capture traits into scope: `(&&&&Wrap(&v)).__tw_capture(limit)` then picks
/// the first of primitive, `Serialize`, `Debug` and opaque that the type allows.
fn capture_prelude(pv: &TokenStream) -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use #pv::{CaptureDebug as _, CaptureOpaque as _, CapturePrimitive as _, CaptureSerialize as _};
    }
}

/// Brings the error-message traits into scope: `Display`, else `Debug`, else the type name.
fn error_prelude(pv: &TokenStream) -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use #pv::{ErrorDebug as _, ErrorDisplay as _, ErrorOpaque as _};
    }
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
        let prelude = capture_prelude(pv);
        quote! {{
            #prelude
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
    let prelude = error_prelude(pv);
    quote! {
        match #out {
            #ok
            ::core::result::Result::Err(__tw_e) => {
                #prelude
                __tw_span.__error(
                    |__tw_limit| (&&&#pv::Wrap(__tw_e)).__tw_error_message(__tw_limit),
                    ::core::any::type_name_of_val(__tw_e),
                );
            }
        }
    }
}

/// The identifiers in the expressions of the options evaluated at the call (`tags`,
/// `attributes`, `parent`, `sample`).
fn option_idents(args: &Args) -> Vec<Ident> {
    let mut out = Vec::new();
    let exprs = args.tags.iter().chain(&args.attributes).map(|(_, e)| e).chain(&args.parent).chain(&args.sample);
    for e in exprs {
        idents(e.to_token_stream(), &mut out);
    }
    out
}

/// Every identifier in `tokens`, also inside groups.
fn idents(tokens: TokenStream, out: &mut Vec<Ident>) {
    for t in tokens {
        match t {
            TokenTree::Ident(i) => out.push(i),
            TokenTree::Group(g) => idents(g.stream(), out),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}
