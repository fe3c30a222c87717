#!/usr/bin/env python3
"""Tests of scripts/import_cycles.py on tiny crates written to a temporary folder.

    python3 scripts/test_import_cycles.py
"""

import contextlib
import io
import os
import sys
import tempfile
import textwrap
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import import_cycles  # noqa: E402


def crate(files):
    """Writes `files` ({relative path: text}) under a new temporary `src/`; returns its path."""
    root = tempfile.mkdtemp(prefix="import-cycles-")
    src = os.path.join(root, "src")
    for rel, text in files.items():
        path = os.path.join(src, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))
    return src


def run(*args):
    """Runs the check; returns (exit status, output)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = import_cycles.main(list(args))
    return code, out.getvalue()


# A layered crate: b uses a, c uses b, the root uses all three.
LAYERED = {
    "lib.rs": """
        pub mod a;
        pub mod b;
        mod c;
        pub use a::Thing;
        pub use b::{make, Other as Renamed};
        pub fn root_fn() { c::go(); }
    """,
    "a.rs": """
        //! Mentions crate::c::go in a comment, which is no import.
        pub struct Thing;
        pub fn text() -> &'static str { "crate::b::make() in a string" }
        pub fn chars() -> [char; 2] { ['{', '"'] }
        #[cfg(test)]
        mod tests {
            use crate::c::go;   // tests may use any layer
        }
    """,
    "b/mod.rs": """
        mod inner;
        pub use inner::Other;
        pub fn make() -> crate::Thing { crate::a::Thing }
    """,
    "b/inner.rs": """
        pub struct Other<'a>(&'a str);
        pub fn f() -> super::super::a::Thing { super::super::a::Thing }
    """,
    "c.rs": """
        use crate::{b::make, Renamed};
        pub fn go() { let _ = make(); let _: Option<Renamed<'static>> = None; }
    """,
}


def circular():
    """LAYERED with a back edge a -> c, which closes the circle a -> c -> b -> a."""
    files = dict(LAYERED)
    files["a.rs"] = LAYERED["a.rs"] + "pub fn back() { crate::c::go(); }\n"
    return crate(files)


def check_with_allowlist(src, entry):
    """Runs the check on `src` with an allowlist holding `entry`."""
    allow = os.path.join(os.path.dirname(src), "allow")
    with open(allow, "w") as f:
        f.write(f"# known\n{entry}\n")
    return run("--allow", allow, src)


class ImportCycles(unittest.TestCase):
    def test_a_layered_crate_passes(self):
        code, out = run(crate(LAYERED))
        self.assertEqual(code, 0, out)
        self.assertIn("none", out)

    def test_the_edges_come_from_uses_code_paths_reexports_and_relative_paths(self):
        edges = import_cycles.analyse(crate(LAYERED))
        self.assertEqual(
            set(edges),
            {
                (import_cycles.ROOT, "a"),
                (import_cycles.ROOT, "b"),
                (import_cycles.ROOT, "c"),
                ("b", "a"),
                ("c", "b"),
            },
        )

    def test_a_circle_through_a_use_and_a_code_path_fails_and_is_named(self):
        code, out = run(circular())
        self.assertEqual(code, 1, out)
        self.assertIn("error: import circle", out)
        self.assertIn("between a, b, c", out)
        self.assertIn("a -> c: a.rs:", out)

    def test_a_circle_hidden_behind_a_root_reexport_fails(self):
        files = dict(LAYERED)
        # `crate::make` is b's function, re-exported at the root: a -> b -> a.
        files["a.rs"] = "pub struct Thing;\npub fn back() { let _ = crate::make(); }\n"
        code, out = run(crate(files))
        self.assertEqual(code, 1, out)
        self.assertIn("between a, b", out)
        self.assertIn("crate::make", out)

    def test_a_function_and_a_module_of_the_same_name_are_told_apart(self):
        files = {
            "lib.rs": "pub mod span;\npub mod context;\npub use context::span;\n",
            "span.rs": "pub struct Data;\n",
            "context.rs": "pub fn span() -> crate::span::Data { crate::span::Data }\n",
        }
        files["monitor.rs"] = "pub fn m() { crate::span(); }\n"
        files["lib.rs"] += "pub mod monitor;\n"
        edges = import_cycles.analyse(crate(files))
        self.assertIn(("monitor", "context"), edges)
        self.assertNotIn(("monitor", "span"), edges)
        self.assertIn(("context", "span"), edges)

    def test_a_binary_crate_root_counts_its_bare_child_paths(self):
        files = {
            "main.rs": "mod read;\nmod source;\nfn main() { read::go(); }\n",
            "read.rs": "use crate::source::Line;\npub fn go() {}\n",
            "source/mod.rs": "pub struct Line;\npub fn back() { crate::read::go() }\n",
        }
        code, out = run(crate(files))
        self.assertEqual(code, 1, out)
        self.assertIn("between read, source", out)

    def test_an_allowed_circle_warns_and_passes(self):
        src = circular()
        code, out = check_with_allowlist(src, f"{src}: a b c d")
        self.assertEqual(code, 0, out)
        self.assertIn("warning: allowed import circle", out)

    def test_a_stale_allowlist_entry_fails(self):
        src = crate(LAYERED)
        code, out = check_with_allowlist(src, f"{src}: a b c")
        self.assertEqual(code, 1, out)
        self.assertIn("delete the line", out)

    def test_an_allowlist_entry_does_not_cover_a_larger_circle(self):
        src = circular()
        code, out = check_with_allowlist(src, f"{src}: a b")
        self.assertEqual(code, 1, out)
        self.assertIn("error: import circle", out)

    def test_comments_strings_and_lifetimes_are_not_code(self):
        code = (
            "let s = \"crate::x\"; // crate::y\n/* crate::z /* nested */\n */ let r = r#\"crate::w\"#;\n"
            "fn f<'a>(x: &'a str) -> char { '\"' } let b = b\"crate::v\";\n"
        )
        text = import_cycles.blank(code)
        self.assertNotIn("crate::", text)
        self.assertIn("fn f<'a>(x: &'a str)", text)
        self.assertEqual(len(text), len(code))
        self.assertEqual(text.count("\n"), code.count("\n"), "line numbers stay right")


if __name__ == "__main__":
    unittest.main()
