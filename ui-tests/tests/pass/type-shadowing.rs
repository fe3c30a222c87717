#![deny(warnings)]
//! The body declares names that shadow the declared return type (a glob import, a local type):
//! the type the body is checked against is still the one in the signature.

use tracewell::traced;

type Out = ();

#[allow(dead_code)]
enum Shadow {
    Out,
}

#[traced]
fn shadowed() -> Out {
    #[allow(unused_imports)]
    use Shadow::*;
}

#[traced]
async fn async_shadowed() -> Out {
    #[allow(unused_imports)]
    use Shadow::*;
}

type Num = u32;

#[traced]
fn local_type() -> Num {
    #[allow(dead_code)]
    struct Num;
    7
}

fn main() {
    shadowed();
    assert_eq!(local_type(), 7);
    futures::executor::block_on(async_shadowed());
}
