//! The code's shape (issue 21, README "How the code is laid out"): folders by layer, data
//! flowing one way, no import circles, no file too long to read.
//!
//! Every `src/**/*.rs` (and rook-sim's) is parsed with `syn`; each path that names a module
//! of the crate (`crate::a::b`, `super::x`, `self::x`, or a module brought in by `use`)
//! is an edge from the file's module to the longest module that path names. Test modules
//! (`#[cfg(test)]`) are left out: they may use what they test from anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Module path ("" for the crate root, "plan::writes") -> its file.
fn modules(root: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            parts.pop();
        }
        if f.file_name().is_some_and(|n| n == "main.rs") {
            // The binary's root is its own crate; it uses the library by name.
            continue;
        }
        out.insert(parts.join("::"), f);
    }
    out
}

struct Refs<'a> {
    /// This file's module path, split.
    me: Vec<String>,
    known: &'a BTreeMap<String, PathBuf>,
    /// Names brought in by `use` that are modules: name -> module path.
    aliases: BTreeMap<String, Vec<String>>,
    found: BTreeSet<String>,
}

impl Refs<'_> {
    /// The absolute form of a path's segments, if it starts at the crate, `super` or `self`
    /// or at a module alias.
    fn absolute(&self, segs: &[String]) -> Option<Vec<String>> {
        let first = segs.first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.me.clone(),
            "super" => {
                let mut b = self.me.clone();
                let mut i = 0;
                while segs.get(i).is_some_and(|s| s == "super") {
                    b.pop();
                    i += 1;
                }
                b.extend(segs[i..].iter().cloned());
                return Some(b);
            }
            name => self.aliases.get(name)?.clone(),
        };
        base.extend(segs[1..].iter().cloned());
        Some(base)
    }

    fn resolve(&self, abs: &[String]) -> Option<String> {
        (1..=abs.len()).rev().map(|n| abs[..n].join("::")).find(|m| self.known.contains_key(m))
    }

    fn add(&mut self, segs: Vec<String>) {
        let Some(abs) = self.absolute(&segs) else { return };
        if let Some(m) = self.resolve(&abs)
            && m != self.me.join("::")
        {
            self.found.insert(m);
        }
    }

    fn use_tree(&mut self, prefix: Vec<String>, tree: &syn::UseTree) {
        let push = |mut p: Vec<String>, name: String| {
            p.push(name);
            p
        };
        match tree {
            syn::UseTree::Path(p) => self.use_tree(push(prefix, p.ident.to_string()), &p.tree),
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let full = if name == "self" { prefix.clone() } else { push(prefix.clone(), name.clone()) };
                self.use_leaf(full, if name == "self" { prefix.last().cloned() } else { Some(name) });
            }
            syn::UseTree::Rename(r) => {
                let name = r.ident.to_string();
                let full = if name == "self" { prefix.clone() } else { push(prefix.clone(), name) };
                self.use_leaf(full, Some(r.rename.to_string()));
            }
            syn::UseTree::Glob(_) => self.add(prefix),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix.clone(), t);
                }
            }
        }
    }

    fn use_leaf(&mut self, full: Vec<String>, alias: Option<String>) {
        if let Some(abs) = self.absolute(&full)
            && let Some(alias) = alias
            && self.known.contains_key(&abs.join("::"))
        {
            self.aliases.insert(alias, abs);
        }
        self.add(full);
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && a.parse_args::<syn::Meta>().is_ok_and(|m| m.path().is_ident("test")))
}

impl<'ast> Visit<'ast> for Refs<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !is_test(&u.attrs) {
            self.use_tree(Vec::new(), &u.tree);
        }
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.add(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // format!/matches!/json! bodies hold paths too: read them as expressions where
        // they parse as such, and take every `a::b` path out of them otherwise.
        let text = m.tokens.to_string().replace(" :: ", "::");
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
            if word.contains("::") {
                self.add(word.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect());
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

/// Module -> the modules it uses (test code left out).
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let known = modules(root);
    let mut out = BTreeMap::new();
    for (m, file) in &known {
        let text = std::fs::read_to_string(file).expect("read source");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let me: Vec<String> = if m.is_empty() { Vec::new() } else { m.split("::").map(str::to_string).collect() };
        let mut refs = Refs { me, known: &known, aliases: BTreeMap::new(), found: BTreeSet::new() };
        // `use` items first, so aliases are known wherever their paths appear.
        for item in &ast.items {
            if let syn::Item::Use(u) = item {
                refs.visit_item_use(u);
            }
        }
        refs.visit_file(&ast);
        // The crate root declares every module; that is not a use of them.
        if !m.is_empty() {
            refs.found.remove("");
        }
        out.insert(m.clone(), refs.found);
    }
    out
}

/// The import circles: strongly connected components of more than one module (Tarjan).
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g[v].iter().filter(|w| t.g.contains_key(*w)) {
            if !t.index.contains_key(w.as_str()) {
                visit(t, w);
                let lw = t.low[w.as_str()];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w.as_str()) {
                let iw = t.index[w.as_str()];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                scc.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t =
        T { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on: BTreeSet::new(), out: vec![] };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn describe(g: &BTreeMap<String, BTreeSet<String>>, scc: &[String]) -> String {
    let inside: BTreeSet<&String> = scc.iter().collect();
    let edges: Vec<String> = scc
        .iter()
        .flat_map(|a| g[a].iter().filter(|b| inside.contains(b)).map(move |b| format!("{a} -> {b}")))
        .collect();
    format!("{{{}}}: {}", scc.join(", "), edges.join("; "))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_import_circles_in_the_plugin() {
    let g = graph(&root().join("src"));
    assert!(g.len() > 30, "the source was read ({} modules)", g.len());
    let found: Vec<String> = circles(&g).iter().map(|c| describe(&g, c)).collect();
    assert!(found.is_empty(), "import circles in src/:\n{}", found.join("\n"));
}

#[test]
fn no_import_circles_in_rook_sim() {
    let g = graph(&root().join("rook-sim/src"));
    assert!(g.len() > 20, "the source was read ({} modules)", g.len());
    let found: Vec<String> = circles(&g).iter().map(|c| describe(&g, c)).collect();
    assert!(found.is_empty(), "import circles in rook-sim/src/:\n{}", found.join("\n"));
}

/// The layers, top to bottom. A module may use its own layer's modules and those of any
/// layer below. The pure layers (`render`, `plan`, `classify`, `model`) sit below every
/// module that talks to the API; `cluster::wire` (the API's shapes, data only) sits with
/// them, so `classify` can read it.
const LAYERS: &[&[&str]] = &[
    &["app"],
    &["commands", "editor"],
    &["settings"],
    &["cli"],
    &["execute"],
    &["cluster"],
    &["render", "prompt"],
    &["plan"],
    &["classify"],
    &["cluster::wire"],
    &["model"],
    &["output", "error"],
];

fn layer_of(module: &str) -> usize {
    // The most specific entry wins ("cluster::wire" over "cluster").
    let entries = LAYERS.iter().enumerate().flat_map(|(i, l)| l.iter().map(move |x| (i, *x)));
    entries
        .filter(|(_, x)| module == *x || module.starts_with(&format!("{x}::")))
        .max_by_key(|(_, x)| x.len())
        .map(|(i, _)| i)
        .unwrap_or_else(|| {
            panic!("module {module} is in no layer: add its folder to LAYERS and to the README's picture")
        })
}

#[test]
fn data_flows_one_way_down_the_layers() {
    let g = graph(&root().join("src"));
    let mut up = Vec::new();
    for (m, deps) in g.iter().filter(|(m, _)| !m.is_empty()) {
        for d in deps.iter().filter(|d| !d.is_empty()) {
            if layer_of(d) < layer_of(m) {
                up.push(format!("{m} uses {d}"));
            }
        }
    }
    assert!(up.is_empty(), "a module uses one from a layer above it:\n{}", up.join("\n"));
}

#[test]
fn files_stay_short_and_the_top_keeps_only_entry_files() {
    let src = root().join("src");
    let long: Vec<String> = modules(&src)
        .values()
        .chain([&src.join("main.rs")])
        .chain(modules(&root().join("rook-sim/src")).values())
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 800).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over 800 lines:\n{}", long.join("\n"));
    let top: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(top.len() <= 8, "at most 8 entry files at the top of src/, found {}: {top:?}", top.len());
}

#[test]
fn the_check_sees_a_circle_when_there_is_one() {
    // The checker itself: two modules using each other are found, one that does not is not.
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    std::fs::write(s.join("lib.rs"), "pub mod a; pub mod b; pub mod c;").unwrap();
    std::fs::write(s.join("a.rs"), "use crate::b::B; pub struct A;").unwrap();
    std::fs::write(s.join("b.rs"), "pub struct B; fn f() -> super::a::A { super::a::A }").unwrap();
    std::fs::create_dir(s.join("c")).unwrap();
    std::fs::write(s.join("c/mod.rs"), "pub mod d; use crate::a;\nfn g() { let _ = a::A; }").unwrap();
    std::fs::write(s.join("c/d.rs"), "#[cfg(test)] mod tests { use crate::c::d; }\npub fn h() {}").unwrap();
    let g = graph(s);
    assert_eq!(circles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    assert!(g["c"].contains("a"), "{g:?}");
    assert!(g["c::d"].is_empty(), "test modules are left out: {g:?}");
}
