//! Parsing and validating the arguments of `#[traced(...)]` and `#[monitor(...)]`.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Error, Expr, Ident, Lit, LitInt, LitStr, Path, Token};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(kind);
    syn::custom_keyword!(label);
    syn::custom_keyword!(branch);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(skip_output);
    syn::custom_keyword!(capture_self);
    syn::custom_keyword!(max_len);
    syn::custom_keyword!(tags);
    syn::custom_keyword!(attributes);
    syn::custom_keyword!(parent);
    syn::custom_keyword!(sample);
    syn::custom_keyword!(stream);
    syn::custom_keyword!(iter);
    syn::custom_keyword!(capture_last_item);
    syn::custom_keyword!(capture_items);
}

const OPTIONS: &str = "`name`, `kind`, `label`, `branch`, `skip`, `skip_all`, `skip_output`, `capture_self`, \
                       `max_len`, `tags`, `attributes`, `parent`, `sample`, `stream`, `iter`, \
                       `capture_last_item`, `capture_items` or `crate`";

const KINDS: [&str; 5] = ["internal", "server", "client", "producer", "consumer"];

/// Whether the return value is forced to be treated as a stream or an iterator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Stream,
    Iter,
}

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    /// The `SpanKind` variant name (`Server`, ...).
    pub(crate) kind: Option<Ident>,
    pub(crate) label: Option<LitStr>,
    pub(crate) branch: Option<LitStr>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) skip_all: bool,
    pub(crate) skip_output: bool,
    pub(crate) capture_self: bool,
    pub(crate) max_len: Option<LitInt>,
    pub(crate) tags: Vec<(LitStr, Expr)>,
    pub(crate) attributes: Vec<(LitStr, Expr)>,
    pub(crate) parent: Option<Expr>,
    pub(crate) sample: Option<Expr>,
    pub(crate) krate: Option<Path>,
    pub(crate) mode: Option<(Mode, Span)>,
    /// Where `capture_last_item` was written.
    pub(crate) capture_last_item: Option<Span>,
    pub(crate) capture_items: Option<LitInt>,
}

impl Args {
    /// Where an items option (`capture_last_item`, `capture_items`) was written, if any.
    pub(crate) fn items_option(&self) -> Option<(Span, &'static str)> {
        self.capture_last_item
            .map(|s| (s, "capture_last_item"))
            .or_else(|| self.capture_items.as_ref().map(|l| (l.span(), "capture_items")))
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut seen: HashSet<&'static str> = HashSet::new();
        let mut once = |key: &'static str, span: Span| {
            if seen.insert(key) {
                Ok(())
            } else {
                Err(Error::new(span, format!("duplicate option `{key}`; give it once")))
            }
        };
        while !input.is_empty() {
            if input.peek(kw::name) {
                let k: kw::name = input.parse()?;
                once("name", k.span)?;
                args.name = Some(string_value(input, "name", "load_user")?);
            } else if input.peek(kw::kind) {
                let k: kw::kind = input.parse()?;
                once("kind", k.span)?;
                args.kind = Some(kind_value(input)?);
            } else if input.peek(kw::label) {
                let k: kw::label = input.parse()?;
                once("label", k.span)?;
                args.label = Some(string_value(input, "label", "io")?);
            } else if input.peek(kw::branch) {
                let k: kw::branch = input.parse()?;
                once("branch", k.span)?;
                args.branch = Some(string_value(input, "branch", "cache-hit")?);
            } else if input.peek(kw::skip_all) {
                let k: kw::skip_all = input.parse()?;
                once("skip_all", k.span)?;
                args.skip_all = true;
            } else if input.peek(kw::skip_output) {
                let k: kw::skip_output = input.parse()?;
                once("skip_output", k.span)?;
                args.skip_output = true;
            } else if input.peek(kw::skip) {
                let k: kw::skip = input.parse()?;
                once("skip", k.span)?;
                let content;
                syn::parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?;
                let mut names_seen = HashSet::new();
                for n in names {
                    if !names_seen.insert(n.to_string()) {
                        return Err(Error::new(n.span(), format!("`{n}` is already in `skip`; name it once")));
                    }
                    args.skip.push(n);
                }
            } else if input.peek(kw::capture_self) {
                let k: kw::capture_self = input.parse()?;
                once("capture_self", k.span)?;
                args.capture_self = true;
            } else if input.peek(kw::max_len) {
                let k: kw::max_len = input.parse()?;
                once("max_len", k.span)?;
                args.max_len = Some(int_value(input, "max_len", "200")?);
            } else if input.peek(kw::tags) {
                let k: kw::tags = input.parse()?;
                once("tags", k.span)?;
                args.tags = pairs(input, "tags")?;
            } else if input.peek(kw::attributes) {
                let k: kw::attributes = input.parse()?;
                once("attributes", k.span)?;
                args.attributes = pairs(input, "attributes")?;
            } else if input.peek(kw::parent) {
                let k: kw::parent = input.parse()?;
                once("parent", k.span)?;
                input.parse::<Token![=]>()?;
                args.parent = Some(input.parse()?);
            } else if input.peek(kw::sample) {
                let k: kw::sample = input.parse()?;
                once("sample", k.span)?;
                input.parse::<Token![=]>()?;
                args.sample = Some(input.parse()?);
            } else if input.peek(kw::stream) || input.peek(kw::iter) {
                let (mode, span) = if input.peek(kw::stream) {
                    (Mode::Stream, input.parse::<kw::stream>()?.span)
                } else {
                    (Mode::Iter, input.parse::<kw::iter>()?.span)
                };
                if let Some((other, _)) = args.mode {
                    let msg = if other == mode {
                        format!("duplicate option `{}`; give it once", mode_name(mode))
                    } else {
                        "`stream` and `iter` exclude each other; keep the one that matches the return type".to_owned()
                    };
                    return Err(Error::new(span, msg));
                }
                args.mode = Some((mode, span));
            } else if input.peek(kw::capture_last_item) {
                let k: kw::capture_last_item = input.parse()?;
                once("capture_last_item", k.span)?;
                if args.capture_items.is_some() {
                    return Err(exclusive(k.span));
                }
                args.capture_last_item = Some(k.span);
            } else if input.peek(kw::capture_items) {
                let k: kw::capture_items = input.parse()?;
                once("capture_items", k.span)?;
                if args.capture_last_item.is_some() {
                    return Err(exclusive(k.span));
                }
                args.capture_items = Some(int_value(input, "capture_items", "10")?);
            } else if input.peek(Token![crate]) {
                let k: Token![crate] = input.parse()?;
                once("crate", k.span)?;
                input.parse::<Token![=]>()?;
                args.krate = Some(input.call(Path::parse_mod_style)?);
            } else if input.peek(Ident::peek_any) {
                let unknown = input.call(Ident::parse_any)?;
                return Err(Error::new(unknown.span(), format!("unknown option `{unknown}`; expected {OPTIONS}")));
            } else {
                return Err(input.error(format!("expected an option: {OPTIONS}")));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Stream => "stream",
        Mode::Iter => "iter",
    }
}

fn exclusive(span: Span) -> Error {
    Error::new(span, "`capture_last_item` and `capture_items` exclude each other; keep one")
}

/// `= "text"`, with an error naming the option when the value is not a string literal.
fn string_value(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<LitStr> {
    input.parse::<Token![=]>()?;
    let value: Expr = input.parse()?;
    match value {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Ok(s),
        other => {
            Err(Error::new_spanned(other, format!("`{key}` takes a string literal, e.g. `{key} = \"{example}\"`")))
        }
    }
}

/// `= 123`, a non-negative integer literal.
fn int_value(input: ParseStream<'_>, key: &str, example: &str) -> syn::Result<LitInt> {
    input.parse::<Token![=]>()?;
    let value: Expr = input.parse()?;
    match value {
        Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) if i.base10_parse::<usize>().is_ok() => Ok(i),
        other => Err(Error::new_spanned(
            other,
            format!("`{key}` takes a non-negative integer literal, e.g. `{key} = {example}`"),
        )),
    }
}

/// `= "server"` (or a bare `server`), checked against the span kinds.
fn kind_value(input: ParseStream<'_>) -> syn::Result<Ident> {
    input.parse::<Token![=]>()?;
    let (text, span) = if input.peek(LitStr) {
        let l: LitStr = input.parse()?;
        (l.value(), l.span())
    } else if input.peek(Ident::peek_any) {
        let i = input.call(Ident::parse_any)?;
        (i.to_string(), i.span())
    } else {
        let bad: Expr = input.parse()?;
        return Err(Error::new_spanned(bad, "`kind` takes a string literal, e.g. `kind = \"server\"`"));
    };
    if !KINDS.contains(&text.as_str()) {
        return Err(Error::new(
            span,
            format!(
                "unknown span kind `{text}`; use one of \"server\", \"client\", \"producer\", \"consumer\" or \"internal\""
            ),
        ));
    }
    let mut variant = text;
    variant[..1].make_ascii_uppercase();
    Ok(Ident::new(&variant, span))
}

/// `(key = expr, ...)` for `tags` and `attributes`; keys are identifiers or string literals.
fn pairs(input: ParseStream<'_>, option: &str) -> syn::Result<Vec<(LitStr, Expr)>> {
    let content;
    syn::parenthesized!(content in input);
    let mut out: Vec<(LitStr, Expr)> = Vec::new();
    while !content.is_empty() {
        let key = if content.peek(LitStr) {
            content.parse::<LitStr>()?
        } else if content.peek(Ident::peek_any) {
            let i = content.call(Ident::parse_any)?;
            LitStr::new(&i.unraw().to_string(), i.span())
        } else {
            return Err(content.error(format!("expected `key = value` in `{option}(...)`, e.g. `{option}(user = id)`")));
        };
        if out.iter().any(|(k, _)| k.value() == key.value()) {
            return Err(Error::new(key.span(), format!("`{}` is already in `{option}`; give it once", key.value())));
        }
        content.parse::<Token![=]>()?;
        let value: Expr = content.parse()?;
        out.push((key, value));
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: &str) -> syn::Result<Args> {
        syn::parse_str::<Args>(tokens)
    }

    #[test]
    fn every_option_parses() {
        let a = parse(
            r#"name = "n", kind = "server", label = "l", branch = "b", skip(a, r#type), capture_self,
               skip_output, max_len = 5, tags(k = 1, "x.y" = a.len()), attributes(z = 2), parent = ctx,
               sample = 0.5, stream, capture_items = 3, crate = ::tw"#,
        )
        .unwrap();
        assert_eq!(a.name.unwrap().value(), "n");
        assert_eq!(a.kind.unwrap().to_string(), "Server");
        assert_eq!(a.skip.len(), 2);
        assert!(a.capture_self && a.skip_output && !a.skip_all);
        assert_eq!(a.tags.iter().map(|(k, _)| k.value()).collect::<Vec<_>>(), ["k", "x.y"]);
        assert_eq!(a.mode.map(|m| m.0), Some(Mode::Stream));
        assert!(a.krate.is_some() && a.parent.is_some() && a.sample.is_some());
    }

    #[test]
    fn duplicates_and_unknowns_name_the_option() {
        let msg = |t: &str| parse(t).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(msg("skip_all, skip_all"), "duplicate option `skip_all`; give it once");
        assert!(msg("nmae = \"x\"").starts_with("unknown option `nmae`"));
        assert!(msg("branch = 1").starts_with("`branch` takes a string literal"));
        assert!(msg("kind = \"sever\"").starts_with("unknown span kind `sever`"));
        assert!(msg("iter, stream").starts_with("`stream` and `iter` exclude each other"));
        assert!(msg("capture_last_item, capture_items = 2").contains("exclude each other"));
        assert!(msg("tags(a = 1, a = 2)").starts_with("`a` is already in `tags`"));
        assert!(msg("skip(a, a)").starts_with("`a` is already in `skip`"));
    }

    #[test]
    fn empty_arguments_are_fine() {
        let a = parse("").unwrap();
        assert!(a.name.is_none() && a.skip.is_empty() && a.items_option().is_none());
    }
}
