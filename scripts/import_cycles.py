#!/usr/bin/env python3
"""Fails on an import circle between the top-level modules of a Rust crate.

    scripts/import_cycles.py [--allow FILE] [--graph] SRC_DIR...

For each SRC_DIR (a crate's `src/`, holding `lib.rs` or `main.rs`) it walks the module tree from
the `mod` declarations, reads every file with comments and string literals blanked out, and
records which top-level module each one refers to: `use` declarations (groups and renames
included) and paths written in code (`crate::x::y`, `super::...`, `self::...`, `$crate::...`, and
the crate root's bare `child::...`). A name the crate root re-exports or imports (`crate::Span`
from `pub use context::Span`) counts as the module it comes from; `crate::span(..)` called as a
function is the re-exported function, `crate::span::X` the module. `#[cfg(test)]` modules are left
out: tests may use any layer. Then it finds the strongly connected sets of modules and prints
each with one circle through it, a line of code for every step, and every import inside the set.

The allowlist (`--allow`) names circles that are known and being worked on, one set a line:
`SRC_DIR: module module ...`. A circle whose modules all belong to one allowed set is printed as a
warning and passes; a line that no longer matches any circle fails, so that it gets deleted.

Exit status: 0 without unallowed circles or stale allowlist lines, 1 otherwise, 2 on bad usage.
"""

import argparse
import os
import re
import sys
from collections import defaultdict

ROOT = "(crate root)"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def blank(text):
    """`text` with comments, string, byte-string and char literals replaced by spaces (newlines
    kept, so line numbers stay right), so that only code is searched."""
    out = []
    i, n = 0, len(text)

    def keep_lines(s):
        return "".join(c if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_lines(text[i:j]))
            i = j
        else:
            raw = re.match(r'b?r(#*)"', text[i:])
            prev = text[i - 1] if i else " "
            if raw and not (prev.isalnum() or prev == "_"):
                end = text.find('"' + raw.group(1), i + raw.end())
                j = n if end < 0 else end + 1 + len(raw.group(1))
                out.append(keep_lines(text[i:j]))
                i = j
            elif c == '"' or (c == "b" and text.startswith('b"', i) and not (prev.isalnum() or prev == "_")):
                j = i + (2 if c == "b" else 1)
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                out.append(keep_lines(text[i : j + 1]))
                i = j + 1
            elif c == "'":
                # A char literal ('a', '\n', '\u{1F980}'), else a lifetime or label ('a).
                m = re.match(r"'(\\(u\{[0-9A-Fa-f]+\}|x[0-9A-Fa-f]{2}|.)|[^\\'])'", text[i:], re.S)
                if m:
                    out.append(keep_lines(m.group(0)))
                    i += m.end()
                else:
                    out.append(c)
                    i += 1
            else:
                out.append(c)
                i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def split_top(s, sep=","):
    """Splits `s` at `sep` outside braces."""
    parts, depth, cur = [], 0, []
    for c in s:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


USE_RE = re.compile(r"(?<![A-Za-z0-9_])use\s+([^;]*);")
PATH_RE = re.compile(r"(?<![A-Za-z0-9_:$])(\$crate|crate|super|self)((?:\s*::\s*" + IDENT + r")+)")
MOD_RE = re.compile(r"(?<![A-Za-z0-9_])mod\s+(" + IDENT + r")\s*([;{])")


def parse_use(body):
    """The (segments, local name) pairs of one `use` body, with `as` renames honoured."""
    pairs = []

    def walk(tree, prefix):
        tree = tree.strip()
        if tree.endswith("}") and "{" in tree:
            head, inner = tree.split("{", 1)
            head_segs = [s.strip() for s in head.split("::") if s.strip()]
            for part in split_top(inner[:-1]):
                walk(part, prefix + head_segs)
            return
        m = re.match(r"^(.*?)\s+as\s+(" + IDENT + r")$", tree, re.S)
        path, alias = (m.group(1), m.group(2)) if m else (tree, None)
        segs = [s.strip() for s in path.split("::") if s.strip()]
        full = prefix + segs
        if not full:
            return
        if full[-1] == "*":
            pairs.append((full[:-1], None))
        elif full[-1] == "self":
            pairs.append((full[:-1], alias or (full[-2] if len(full) > 1 else None)))
        else:
            pairs.append((full, alias or full[-1]))

    walk(body, [])
    return pairs


class Crate:
    def __init__(self, src):
        self.src = src
        root = next((os.path.join(src, f) for f in ("lib.rs", "main.rs") if os.path.isfile(os.path.join(src, f))), None)
        if root is None:
            raise SystemExit(f"import_cycles: no lib.rs or main.rs in {src}")
        self.root_file = root
        self.modules = {(): root}  # module path -> file (inline modules map to their file too)
        self.children = defaultdict(set)  # module path -> child module names
        self.texts = {}  # file -> blanked text
        self.regions = []  # (file, start, end, module path): which module each span of a file is
        self.imports = defaultdict(dict)  # module path -> {local name: segments}
        self.skipped = []  # (file, start, end): `#[cfg(test)]` modules, not read
        self._load(root, ())

    def _load(self, path, modpath):
        with open(path, encoding="utf-8") as f:
            text = blank(f.read())
        self.texts[path] = text
        self._scan_region(path, text, 0, len(text), modpath)

    def _child_file(self, parent_file, name):
        """The file of module `name` declared in `parent_file` (`name.rs` or `name/mod.rs`, beside
        a lib.rs/main.rs/mod.rs, else in the folder named after the file)."""
        base = os.path.basename(parent_file)
        d = os.path.dirname(parent_file)
        if base not in ("lib.rs", "main.rs", "mod.rs"):
            d = os.path.join(d, base[:-3])
        for cand in (os.path.join(d, name + ".rs"), os.path.join(d, name, "mod.rs")):
            if os.path.isfile(cand):
                return cand
        return None

    def _scan_region(self, path, text, start, end, modpath):
        """Registers the modules declared between `start` and `end` of `path`'s text."""
        self.regions.append((path, start, end, modpath))
        pos = start
        while True:
            m = MOD_RE.search(text, pos, end)
            if not m:
                break
            name = m.group(1)
            child = modpath + (name,)
            if is_test_only(text, m.start()):
                # Tests may use any layer; only library code has to import downward.
                pos = m.end() if m.group(2) == ";" else matching_brace(text, m.end() - 1) + 1
                self.skipped.append((path, m.start(), pos))
                continue
            self.children[modpath].add(name)
            if m.group(2) == ";":
                f = self._child_file(path, name)
                if f:
                    self.modules[child] = f
                    self._load(f, child)
                pos = m.end()
            else:
                close = matching_brace(text, m.end() - 1)
                self.modules[child] = path
                self._scan_region(path, text, m.end(), close, child)
                pos = close + 1

    def module_at(self, path, pos):
        """The innermost module whose region of `path` holds `pos`."""
        best = None
        for f, s, e, mp in self.regions:
            if f == path and s <= pos <= e and (best is None or len(mp) > len(best)):
                best = mp
        return best if best is not None else ()

    def is_module(self, modpath):
        return modpath in self.modules


def is_test_only(text, pos):
    """Whether the item at `pos` carries `#[cfg(test)]` among the attributes right before it."""
    head = text[:pos].rstrip()
    while head.endswith("]"):
        start = head.rfind("#[")
        if start < 0:
            return False
        if re.fullmatch(r"#\[\s*cfg\s*\(\s*test\s*\)\s*\]", head[start:]):
            return True
        head = head[:start].rstrip()
    return False


def matching_brace(text, open_pos):
    depth = 0
    for i in range(open_pos, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def analyse(src):
    """The crate's top-level module graph: {(from, to): (file, line, text)} for each edge."""
    crate = Crate(src)
    # Every `use` of every module: the names it brings into scope, for resolving crate::Name.
    uses = []  # (file, line, module path, segments, local name)
    def skipped(path, pos):
        return any(f == path and s <= pos < e for f, s, e in crate.skipped)

    for path, text in crate.texts.items():
        for m in USE_RE.finditer(text):
            if skipped(path, m.start()):
                continue
            modpath = crate.module_at(path, m.start())
            for segs, alias in parse_use(m.group(1)):
                uses.append((path, line_of(text, m.start()), modpath, segs, alias))
                if alias:
                    crate.imports[modpath].setdefault(alias, segs)

    def start(segs, modpath):
        """Where a path starts: (module path, remaining segments), or None outside the crate."""
        if not segs:
            return None
        head, rest = segs[0], list(segs[1:])
        if head in ("crate", "$crate"):
            return (), rest
        if head == "self":
            return modpath, rest
        if head == "super":
            mp = modpath
            while True:
                mp = mp[:-1]
                if rest and rest[0] == "super":
                    rest = rest[1:]
                    continue
                return mp, rest
        if head in crate.children[modpath]:
            return modpath + (head,), rest
        return None

    def resolve(segs, modpath, depth=0, kind="type"):
        """The module that a path names or defines its item in, or None outside the crate."""
        s = start(segs, modpath)
        if s is None or depth > 16:
            return None
        mp, rest = s
        while rest:
            nxt = rest[0]
            last = len(rest) == 1
            if crate.is_module(mp + (nxt,)) and not (last and kind == "value" and nxt in crate.imports[mp]):
                mp, rest = mp + (nxt,), rest[1:]
                continue
            imported = crate.imports[mp].get(nxt)
            if imported is not None:
                target = resolve(list(imported) + rest[1:], mp, depth + 1, kind)
                if target is not None:
                    return target
            break
        return mp

    edges = {}

    def top(mp):
        return mp[0] if mp else ROOT

    def add(from_mp, to_mp, path, line, what):
        if to_mp is None:
            return
        a, b = top(from_mp), top(to_mp)
        if a != b:
            edges.setdefault((a, b), (os.path.relpath(path, src), line, what))

    for path, line, modpath, segs, alias in uses:
        add(modpath, resolve(segs, modpath), path, line, "use " + "::".join(segs))
    for path, text in crate.texts.items():
        for m in PATH_RE.finditer(text):
            segs = [m.group(1)] + [s.strip() for s in m.group(2).split("::") if s.strip()]
            if in_use(text, m.start()) or skipped(path, m.start()):
                continue
            modpath = crate.module_at(path, m.start())
            after = text[m.end() : m.end() + 2].lstrip()
            kind = "value" if after.startswith("(") else "type"
            add(modpath, resolve(segs, modpath, kind=kind), path, line_of(text, m.start()), "::".join(segs))
        # The crate root's own code may name its children without `crate::`.
        for modpath_region in [r for r in crate.regions if r[0] == path]:
            f, s, e, mp = modpath_region
            if mp != ():
                continue
            for m in re.finditer(r"(?<![A-Za-z0-9_:$])(" + IDENT + r")\s*::\s*(" + IDENT + ")", text[s:e]):
                if m.group(1) in crate.children[()] and not in_use(text, s + m.start()) and not skipped(path, s + m.start()):
                    if crate.module_at(path, s + m.start()) == ():
                        add((), (m.group(1),), path, line_of(text, s + m.start()), m.group(0))
    return edges


def in_use(text, pos):
    """Whether `pos` is inside a `use ...;` declaration (those are read separately)."""
    semi = text.rfind(";", 0, pos)
    brace = max(text.rfind("{", 0, pos), text.rfind("}", 0, pos))
    stmt_start = max(semi, brace) + 1
    return re.match(r"\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\s*\([^)]*\))?\s+)?use\b", text[stmt_start:pos] + " ") is not None


def strongly_connected(nodes, edges):
    """Tarjan's algorithm: the sets of two or more nodes that reach each other."""
    graph = defaultdict(list)
    for a, b in edges:
        graph[a].append(b)
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def a_circle(comp, edges):
    """One circle through the first module of `comp`, staying inside `comp` (shortest first)."""
    members = set(comp)
    startv = comp[0]
    prev = {startv: None}
    queue = [startv]
    while queue:
        v = queue.pop(0)
        for (a, b) in sorted(edges):
            if a != v or b not in members:
                continue
            if b == startv:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [startv]
            if b not in prev:
                prev[b] = v
                queue.append(b)
    return comp


def read_allowlist(path):
    entries = []
    if not path:
        return entries
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if ":" not in line:
                raise SystemExit(f"import_cycles: {path}:{n}: expected `SRC_DIR: module module ...`")
            src, mods = line.split(":", 1)
            entries.append((os.path.normpath(src.strip()), frozenset(mods.split()), n))
    return entries


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fails on an import circle between a crate's top-level modules.")
    ap.add_argument("--allow", help="allowlist file: `SRC_DIR: module module ...` per line")
    ap.add_argument("--graph", action="store_true", help="also print every import between modules")
    ap.add_argument("src", nargs="+", help="a crate's src directory")
    args = ap.parse_args(argv)
    allow = read_allowlist(args.allow)
    used = set()
    failed = False
    for src in args.src:
        key = os.path.normpath(src)
        edges = analyse(src)
        nodes = {a for a, _ in edges} | {b for _, b in edges}
        comps = strongly_connected(nodes, edges)
        if args.graph:
            for (a, b), (f, line, what) in sorted(edges.items()):
                print(f"{src}: {a} -> {b}: {f}:{line}: {what}")
        if not comps:
            print(f"import circles: {src}: none ({len(nodes)} modules, {len(edges)} imports between them)")
        for comp in comps:
            allowed = next((e for e in allow if e[0] == key and set(comp) <= e[1]), None)
            circle = a_circle(comp, edges)
            head = "warning: allowed import circle" if allowed else "error: import circle"
            print(f"{head} in {src} between {', '.join(comp)}:")
            print("  " + " -> ".join(circle))
            for a, b in zip(circle, circle[1:]):
                f, line, what = edges[(a, b)]
                print(f"    {a} -> {b}: {f}:{line}: {what}")
            inside = sorted((a, b) for a, b in edges if a in comp and b in comp)
            if len(inside) > len(circle) - 1:
                print("  every import inside this set (each is a place to cut):")
                for a, b in inside:
                    f, line, what = edges[(a, b)]
                    print(f"    {a} -> {b}: {f}:{line}: {what}")
            if allowed:
                used.add(allowed)
                print(f"  (allowed by {args.allow}:{allowed[2]}; delete that line when the circle is gone)")
            else:
                failed = True
    checked = {os.path.normpath(s) for s in args.src}
    for e in allow:
        if e[0] in checked and e not in used:
            print(f"error: {args.allow}:{e[2]}: no import circle in {e[0]} lies within {' '.join(sorted(e[1]))}; delete the line")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
