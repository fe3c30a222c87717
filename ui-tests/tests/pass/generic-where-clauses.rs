#![deny(warnings)]
//! Generics with `where` clauses on `async` functions (the plain-fn case is in
//! generics-lifetimes.rs), const generics, lifetime bounds and the lifetimes of the
//! surrounding `impl` block, on plain and `async` functions. (An `async fn` in an `impl<'a>`
//! block that does not name `'a` in its output is the case edition 2021's capture rules would
//! reject in a hand-written `-> impl Future`.)

use std::fmt::Debug;
use std::hash::Hash;

use tracewell::traced;

#[traced]
fn sized<const N: usize>(a: [u8; N]) -> usize {
    a.len() + N
}

#[traced]
async fn dedup<K, V>(pairs: Vec<(K, V)>) -> std::collections::HashMap<K, V>
where
    K: Eq + Hash + Debug + Send,
    V: Debug + Send,
{
    tokio::task::yield_now().await;
    pairs.into_iter().collect()
}

#[traced]
async fn outlives<'a, 'b: 'a, T: Debug + 'a>(a: &'a T, _b: &'b str) -> &'a T {
    a
}

#[traced]
async fn const_async<const N: usize>(a: [u8; N]) -> usize {
    a.len()
}

struct Parser<'a> {
    input: &'a str,
}

impl<'a> Parser<'a> {
    #[traced]
    async fn remaining(&self) -> usize {
        self.input.len()
    }

    #[traced]
    async fn next_word(&mut self) -> &'a str {
        let (w, rest) = self.input.split_once(' ').unwrap_or((self.input, ""));
        self.input = rest;
        w
    }

    #[traced]
    async fn with(input: &'a str) -> Parser<'a> {
        Parser { input }
    }
}

struct Wrap<T>(T);

impl<T: Clone + Debug + Send> Wrap<T> {
    #[traced]
    async fn get(&self) -> T {
        self.0.clone()
    }
}

fn main() {
    assert_eq!(sized([1, 2]), 4);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(dedup(vec![(1, "a"), (1, "b")]).await.len(), 1);
        assert_eq!(*outlives(&1, "b").await, 1);
        assert_eq!(const_async([0; 3]).await, 3);
        let mut p = Parser::with("a b").await;
        assert_eq!(p.remaining().await, 3);
        assert_eq!(p.next_word().await, "a");
        assert_eq!(Wrap(5).get().await, 5);
    });
}
