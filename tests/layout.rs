//! The code's shape (issue 21, README "How the code is laid out"): folders by layer, data
//! flowing one way, no import circles, no file too long to read.
//!
//! Every `src/**/*.rs` (and rook-sim's) is parsed with `syn`, and its names are resolved as
//! the compiler resolves them: a module's items, child modules and `use` items (re-exports
//! too) make its namespace. Every path in a file — in `use` items, expressions, types,
//! patterns and macro arguments, starting at `crate`, `self`, `super`, a child module or a
//! name brought in by `use` — is followed to the item it names, and is an edge from the file
//! to the file that *defines* that item: a path through a re-export leads on to the
//! definition, and the re-export itself is an edge from the file that makes it. `Type::f`
//! leads to the type's file and to the file of the `impl` that defines `f`. Naming a module
//! is no edge, nor is declaring one (`mod x;`). Test code (`#[cfg(test)]`) is left out: it
//! may use what it tests from anywhere.

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

/// What a name stands for in a module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Def {
    /// A module, by its path.
    Module(String),
    /// An item, by the file (its module path) that defines it; `ty`: a type or trait, whose
    /// path goes on with its variants and associated items.
    Item { file: String, name: String, ty: bool },
}

/// One module's names.
#[derive(Default)]
struct Namespace {
    /// The items and child modules it defines.
    defs: BTreeMap<String, Vec<Def>>,
    /// Its `use` items: the name each brings in -> the paths it stands for, as written.
    imports: BTreeMap<String, Vec<Vec<String>>>,
    /// `use path::*`.
    globs: Vec<Vec<String>>,
    /// `use` items inside its functions: looked at last, and only for its own paths.
    local: BTreeMap<String, Vec<Vec<String>>>,
}

/// A crate's modules (inline ones too) and what they define.
#[derive(Default)]
struct Crate {
    ns: BTreeMap<String, Namespace>,
    /// (file of a type, the type's name) -> associated item -> the files whose inherent
    /// `impl` of the type defines it.
    assoc: BTreeMap<(String, String), BTreeMap<String, BTreeSet<String>>>,
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && a.parse_args::<syn::Meta>().is_ok_and(|m| m.path().is_ident("test")))
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item as I;
    match item {
        I::Const(i) => &i.attrs,
        I::Enum(i) => &i.attrs,
        I::ExternCrate(i) => &i.attrs,
        I::Fn(i) => &i.attrs,
        I::ForeignMod(i) => &i.attrs,
        I::Impl(i) => &i.attrs,
        I::Macro(i) => &i.attrs,
        I::Mod(i) => &i.attrs,
        I::Static(i) => &i.attrs,
        I::Struct(i) => &i.attrs,
        I::Trait(i) => &i.attrs,
        I::TraitAlias(i) => &i.attrs,
        I::Type(i) => &i.attrs,
        I::Union(i) => &i.attrs,
        I::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn child(m: &str, name: &str) -> String {
    if m.is_empty() { name.to_string() } else { format!("{m}::{name}") }
}

fn parent(m: &str) -> Option<String> {
    if m.is_empty() { None } else { Some(m.rsplit_once("::").map_or(String::new(), |(p, _)| p.to_string())) }
}

/// The names a `use` tree brings in (name -> full path), and its globs.
fn use_names(
    prefix: Vec<String>,
    tree: &syn::UseTree,
    names: &mut BTreeMap<String, Vec<Vec<String>>>,
    globs: &mut Vec<Vec<String>>,
) {
    let with = |mut p: Vec<String>, s: String| {
        p.push(s);
        p
    };
    match tree {
        syn::UseTree::Path(p) => use_names(with(prefix, p.ident.to_string()), &p.tree, names, globs),
        syn::UseTree::Name(n) if n.ident == "self" => {
            if let Some(last) = prefix.last() {
                names.entry(last.clone()).or_default().push(prefix.clone());
            }
        }
        syn::UseTree::Name(n) => names.entry(n.ident.to_string()).or_default().push(with(prefix, n.ident.to_string())),
        syn::UseTree::Rename(r) => {
            let full = if r.ident == "self" { prefix } else { with(prefix, r.ident.to_string()) };
            names.entry(r.rename.to_string()).or_default().push(full);
        }
        syn::UseTree::Glob(_) => globs.push(prefix),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_names(prefix.clone(), t, names, globs)),
    }
}

/// The `use` items inside functions (not those of nested modules).
struct LocalUses<'a>(&'a mut BTreeMap<String, Vec<Vec<String>>>);

impl<'ast> Visit<'ast> for LocalUses<'_> {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        match i {
            syn::Item::Mod(_) => {}
            syn::Item::Use(u) if !is_test(&u.attrs) => use_names(Vec::new(), &u.tree, self.0, &mut Vec::new()),
            i if !is_test(item_attrs(i)) => syn::visit::visit_item(self, i),
            _ => {}
        }
    }
}

/// A pending inherent `impl`: (module, file, the type's path, its associated items).
type Impl = (String, String, Vec<String>, Vec<String>);

fn segments(p: &syn::Path) -> Vec<String> {
    p.segments.iter().map(|s| s.ident.to_string()).collect()
}

impl Crate {
    fn read(files: &BTreeMap<String, syn::File>) -> Crate {
        let mut c = Crate::default();
        let mut impls = Vec::new();
        for (m, ast) in files {
            c.declare(m, m, &ast.items, &mut impls);
        }
        for (m, file, ty, items) in impls {
            for d in c.resolve(&m, &ty, 0) {
                if let Def::Item { file: tf, name, ty: true } = d {
                    let a = c.assoc.entry((tf, name)).or_default();
                    for i in &items {
                        a.entry(i.clone()).or_default().insert(file.clone());
                    }
                }
            }
        }
        c
    }

    /// Module `m`, written in `file`, with these items.
    fn declare(&mut self, m: &str, file: &str, items: &[syn::Item], impls: &mut Vec<Impl>) {
        let mut ns = Namespace::default();
        let item = |name: &syn::Ident, ty: bool| Def::Item { file: file.to_string(), name: name.to_string(), ty };
        for i in items.iter().filter(|i| !is_test(item_attrs(i))) {
            let (name, def) = match i {
                syn::Item::Mod(x) => {
                    let sub = child(m, &x.ident.to_string());
                    if let Some((_, inner)) = &x.content {
                        self.declare(&sub, file, inner, impls);
                    }
                    (&x.ident, Def::Module(sub))
                }
                syn::Item::Use(u) => {
                    use_names(Vec::new(), &u.tree, &mut ns.imports, &mut ns.globs);
                    continue;
                }
                syn::Item::Impl(x) => {
                    if let (None, syn::Type::Path(t)) = (&x.trait_, &*x.self_ty)
                        && t.qself.is_none()
                    {
                        let names = x
                            .items
                            .iter()
                            .filter_map(|i| match i {
                                syn::ImplItem::Fn(f) if !is_test(&f.attrs) => Some(f.sig.ident.to_string()),
                                syn::ImplItem::Const(k) if !is_test(&k.attrs) => Some(k.ident.to_string()),
                                _ => None,
                            })
                            .collect();
                        impls.push((m.to_string(), file.to_string(), segments(&t.path), names));
                    }
                    LocalUses(&mut ns.local).visit_item(i);
                    continue;
                }
                syn::Item::Struct(x) => (&x.ident, item(&x.ident, true)),
                syn::Item::Enum(x) => (&x.ident, item(&x.ident, true)),
                syn::Item::Union(x) => (&x.ident, item(&x.ident, true)),
                syn::Item::Trait(x) => (&x.ident, item(&x.ident, true)),
                syn::Item::TraitAlias(x) => (&x.ident, item(&x.ident, true)),
                syn::Item::Type(x) => (&x.ident, item(&x.ident, true)),
                syn::Item::Fn(x) => {
                    LocalUses(&mut ns.local).visit_item(i);
                    (&x.sig.ident, item(&x.sig.ident, false))
                }
                syn::Item::Const(x) => (&x.ident, item(&x.ident, false)),
                syn::Item::Static(x) => (&x.ident, item(&x.ident, false)),
                _ => continue,
            };
            ns.defs.entry(name.to_string()).or_default().push(def);
        }
        self.ns.insert(m.to_string(), ns);
    }

    /// What `name` stands for in module `m` (`local`: for a path written in `m` itself).
    fn lookup(&self, m: &str, name: &str, local: bool, depth: usize) -> Vec<Def> {
        let Some(ns) = self.ns.get(m).filter(|_| depth < 40) else { return Vec::new() };
        let mut out = ns.defs.get(name).cloned().unwrap_or_default();
        for p in ns.imports.get(name).into_iter().flatten() {
            out.extend(self.resolve(m, p, depth + 1));
        }
        if out.is_empty() {
            for g in &ns.globs {
                for d in self.resolve(m, g, depth + 1) {
                    if let Def::Module(gm) = d {
                        out.extend(self.lookup(&gm, name, false, depth + 1));
                    }
                }
            }
        }
        if out.is_empty() && local {
            for p in ns.local.get(name).into_iter().flatten() {
                out.extend(self.resolve(m, p, depth + 1));
            }
        }
        out
    }

    /// What a path written in module `m` names (nothing: outside the crate, a local, `Self`).
    fn resolve(&self, m: &str, segs: &[String], depth: usize) -> Vec<Def> {
        let Some(first) = segs.first() else { return Vec::new() };
        let mut rest = &segs[1..];
        let mut cur = match first.as_str() {
            "crate" => vec![Def::Module(String::new())],
            "self" => vec![Def::Module(m.to_string())],
            "super" => {
                let mut at = parent(m);
                while rest.first().is_some_and(|s| s == "super") {
                    at = at.as_deref().and_then(parent);
                    rest = &rest[1..];
                }
                at.map(Def::Module).into_iter().collect()
            }
            "Self" => return Vec::new(),
            name => self.lookup(m, name, true, depth),
        };
        for seg in rest {
            if !cur.iter().any(|d| matches!(d, Def::Module(_))) {
                // A type's variant or associated item: the type, and the impl defining it.
                let mut out = cur.clone();
                for d in &cur {
                    if let Def::Item { file, name, ty: true } = d
                        && let Some(files) = self.assoc.get(&(file.clone(), name.clone())).and_then(|a| a.get(seg))
                    {
                        out.extend(files.iter().map(|f| Def::Item { file: f.clone(), name: seg.clone(), ty: false }));
                    }
                }
                return out;
            }
            cur = cur
                .iter()
                .flat_map(|d| match d {
                    Def::Module(x) => self.lookup(x, seg, false, depth + 1),
                    _ => Vec::new(),
                })
                .collect();
        }
        cur
    }
}

/// The edges of one file: the files defining what its paths name.
struct Edges<'a> {
    krate: &'a Crate,
    file: String,
    /// The module the visitor is in (inline modules nest).
    within: Vec<String>,
    found: BTreeSet<String>,
    /// The types its paths name: (file, name).
    types: BTreeSet<(String, String)>,
    /// The methods it calls (`x.f()`), by name.
    calls: BTreeSet<String>,
}

impl Edges<'_> {
    fn add(&mut self, segs: &[String]) {
        let m = self.within.last().expect("a module");
        for d in self.krate.resolve(m, segs, 0) {
            if let Def::Item { file, name, ty } = d {
                if ty {
                    self.types.insert((file.clone(), name));
                }
                if file != self.file {
                    self.found.insert(file);
                }
            }
        }
    }

    /// The file's edges, with those of its method calls: a call `x.f()` in a file that names
    /// type `T` leads to the file whose `impl T` defines `f` (types are not inferred: a
    /// method of a type the file never names is not seen).
    fn finish(mut self) -> BTreeSet<String> {
        for t in &self.types {
            for (f, files) in self.krate.assoc.get(t).into_iter().flatten() {
                if self.calls.contains(f) {
                    self.found.extend(files.iter().filter(|x| **x != self.file).cloned());
                }
            }
        }
        self.found
    }
}

/// Every `a::b` path among a macro's tokens (for bodies that are not expressions: json!,
/// matches!'s pattern).
fn token_paths(mut c: syn::buffer::Cursor, out: &mut Vec<Vec<String>>) {
    let mut path: Vec<String> = Vec::new();
    let mut colons = 0;
    let flush = |path: &mut Vec<String>, out: &mut Vec<Vec<String>>| {
        if path.len() > 1 {
            out.push(std::mem::take(path));
        }
        path.clear();
    };
    while !c.eof() {
        if let Some((id, next)) = c.ident() {
            if colons != 2 {
                flush(&mut path, out);
            }
            path.push(id.to_string());
            colons = 0;
            c = next;
        } else if let Some((p, next)) = c.punct() {
            if p.as_char() == ':' && !path.is_empty() && colons < 2 {
                colons += 1;
            } else {
                flush(&mut path, out);
                colons = 0;
            }
            c = next;
        } else {
            flush(&mut path, out);
            colons = 0;
            if let Some((inside, _, _, next)) = c.any_group() {
                token_paths(inside, out);
                c = next;
            } else if let Some((_, next)) = c.token_tree() {
                c = next;
            } else {
                break;
            }
        }
    }
    flush(&mut path, out);
}

impl<'ast> Visit<'ast> for Edges<'_> {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        if is_test(item_attrs(i)) {
            return;
        }
        match i {
            syn::Item::Mod(m) => {
                if m.content.is_some() {
                    let sub = child(self.within.last().expect("a module"), &m.ident.to_string());
                    self.within.push(sub);
                    syn::visit::visit_item_mod(self, m);
                    self.within.pop();
                }
            }
            syn::Item::Use(u) => {
                let mut names = BTreeMap::new();
                let mut globs = Vec::new();
                use_names(Vec::new(), &u.tree, &mut names, &mut globs);
                for p in names.values().flatten().chain(&globs) {
                    self.add(p);
                }
            }
            i => syn::visit::visit_item(self, i),
        }
    }
    fn visit_impl_item(&mut self, i: &'ast syn::ImplItem) {
        let attrs = match i {
            syn::ImplItem::Fn(f) => &f.attrs,
            syn::ImplItem::Const(k) => &k.attrs,
            syn::ImplItem::Type(t) => &t.attrs,
            _ => return syn::visit::visit_impl_item(self, i),
        };
        if !is_test(attrs) {
            syn::visit::visit_impl_item(self, i);
        }
    }
    fn visit_expr_method_call(&mut self, c: &'ast syn::ExprMethodCall) {
        self.calls.insert(c.method.to_string());
        syn::visit::visit_expr_method_call(self, c);
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.add(&segments(p));
        syn::visit::visit_path(self, p);
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // format!/write!/vec! take expressions: read them as such. Other bodies (json!,
        // matches!) give up their `a::b` paths.
        use syn::punctuated::Punctuated;
        match m.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated) {
            Ok(args) => args.iter().for_each(|e| self.visit_expr(e)),
            Err(_) => {
                let buf = syn::buffer::TokenBuffer::new2(m.tokens.clone());
                let mut paths = Vec::new();
                token_paths(buf.begin(), &mut paths);
                paths.iter().for_each(|p| self.add(p));
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

/// Parse every file of a crate.
fn parse(root: &Path) -> BTreeMap<String, syn::File> {
    modules(root)
        .into_iter()
        .map(|(m, file)| {
            let text = std::fs::read_to_string(&file).expect("read source");
            let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            (m, ast)
        })
        .collect()
}

/// File (its module path) -> the files it uses (test code left out).
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = parse(root);
    let krate = Crate::read(&files);
    files
        .iter()
        .map(|(m, ast)| {
            let mut e = Edges {
                krate: &krate,
                file: m.clone(),
                within: vec![m.clone()],
                found: BTreeSet::new(),
                types: BTreeSet::new(),
                calls: BTreeSet::new(),
            };
            e.visit_file(ast);
            (m.clone(), e.finish())
        })
        .collect()
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

fn layer_of(layers: &[&[&str]], module: &str) -> usize {
    // The most specific entry wins ("cluster::wire" over "cluster").
    let entries = layers.iter().enumerate().flat_map(|(i, l)| l.iter().map(move |x| (i, *x)));
    entries
        .filter(|(_, x)| module == *x || module.starts_with(&format!("{x}::")))
        .max_by_key(|(_, x)| x.len())
        .map(|(i, _)| i)
        .unwrap_or_else(|| {
            panic!("module {module} is in no layer: add its folder to LAYERS and to the README's picture")
        })
}

/// The uses that climb a layer. The crate root stands above every layer: it may re-export
/// anything, and nothing uses it.
fn upward(g: &BTreeMap<String, BTreeSet<String>>, layers: &[&[&str]]) -> Vec<String> {
    let mut up = Vec::new();
    for (m, deps) in g.iter().filter(|(m, _)| !m.is_empty()) {
        for d in deps {
            if d.is_empty() || layer_of(layers, d) < layer_of(layers, m) {
                up.push(format!("{m} uses {}", if d.is_empty() { "the crate root" } else { d }));
            }
        }
    }
    up
}

#[test]
fn data_flows_one_way_down_the_layers() {
    let up = upward(&graph(&root().join("src")), LAYERS);
    assert!(up.is_empty(), "a module uses one from a layer above it:\n{}", up.join("\n"));
}

/// rook-sim's layers, top to bottom (issue 21; rook-sim/src/lib.rs). The composition root
/// (starting a simulation, the running `Sim`) on top; the embedded API server and the
/// nodes of a real server; the Ceph CLI; Kubernetes' controllers and kubelets; Rook's
/// operator; all of them acting on a `SimState` (`state`), which composes the plain data
/// at the bottom. What the control plane does after a write in `state` is a hook
/// (`state::Controllers`) `kube::control` implements and `sim::start` registers.
const ROOK_SIM_LAYERS: &[&[&str]] = &[
    &["sim::start"],
    &["remote::on_server"],
    &["sim"],
    &["server", "remote::kubelets"],
    &["ceph"],
    &["kube"],
    &["operator::reconcile", "operator::checker"],
    &["state"],
    &[
        "operator",
        "kube::nodes",
        "kube::events",
        "remote",
        "ceph::state",
        "ceph::model",
        "ceph::crush",
        "ceph::ctx",
        "ceph::health",
        "ceph::osdmap",
        "ceph::status",
        "ceph::commands",
        "server::store",
        "server::status",
        "server::request",
        "server::faults",
        "server::log",
        "server::rbac",
        "server::schema",
        "server::patch",
        "server::selector",
        "server::discovery",
        "server::tls",
        "topology",
        "load",
        "resources",
        "secrets",
    ],
];

#[test]
fn rook_sim_data_flows_one_way_down_its_layers() {
    let up = upward(&graph(&root().join("rook-sim/src")), ROOK_SIM_LAYERS);
    assert!(up.is_empty(), "a rook-sim module uses one from a layer above it:\n{}", up.join("\n"));
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

/// A crate of these files (path, text) in a temporary folder, and its graph.
fn planted(files: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    graph(dir.path())
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_check_sees_a_circle_when_there_is_one() {
    // The checker itself: two modules using each other are found, one that does not is not.
    let g = planted(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
        ("a.rs", "use crate::b::B; pub struct A;"),
        ("b.rs", "pub struct B; fn f() -> super::a::A { super::a::A }"),
        ("c/mod.rs", "pub mod d; use crate::a;\nfn g() { let _ = a::A; }"),
        ("c/d.rs", "#[cfg(test)] mod tests { use crate::c::d; }\npub fn h() {}"),
    ]);
    assert_eq!(circles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    assert_eq!(g["c"], set(&["a"]), "{g:?}");
    assert!(g["c::d"].is_empty(), "test modules are left out: {g:?}");
}

#[test]
fn paths_relative_to_a_module_are_edges() {
    // A mod.rs and its children: `use child::x`, `child::f()` in an expression, `self::x`,
    // and `super::x` back; each pair is a circle.
    let g = planted(&[
        ("lib.rs", "pub mod p;"),
        (
            "p/mod.rs",
            "mod c; pub mod d; pub mod e; pub mod f; pub mod g;\n\
             use c::C;\n\
             pub struct Top;\n\
             pub fn k() {}\n\
             fn run() { d::f(); }\n\
             fn make() -> self::e::E { self::e::E }\n\
             pub use g::Deep;",
        ),
        ("p/c.rs", "use super::Top; pub struct C;"),
        ("p/d.rs", "pub fn f() { super::k() }"),
        ("p/e.rs", "pub struct E; fn back() { let _ = format!(\"{:?}\", crate::p::Top); }"),
        ("p/f.rs", "pub fn alone() { let _ = super::Deep; }"),
        ("p/g.rs", "pub struct Deep;"),
    ]);
    assert_eq!(g["p"], set(&["p::c", "p::d", "p::e", "p::g"]), "child-relative paths, a re-export: {g:?}");
    assert_eq!(g["p::c"], set(&["p"]), "{g:?}");
    assert_eq!(g["p::d"], set(&["p"]), "{g:?}");
    assert_eq!(g["p::e"], set(&["p"]), "a path in a macro's arguments: {g:?}");
    assert_eq!(g["p::f"], set(&["p::g"]), "a re-exported item leads to the file that defines it: {g:?}");
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(circles(&g), vec![strs(&["p", "p::c", "p::d", "p::e"])]);
}

#[test]
fn the_crate_root_is_a_module_like_the_others() {
    // An item defined at lib.rs is an edge to lib.rs; one it re-exports is an edge to the
    // file that defines it; a method defined in another file's `impl` is an edge there.
    let g = planted(&[
        (
            "lib.rs",
            "pub mod a; pub mod b; pub mod c; pub mod d; pub mod e;\n\
             pub use c::Thing;\n\
             pub struct Hub;\n\
             impl Hub { pub fn go(&self) { a::step() } }",
        ),
        ("a.rs", "pub fn step() { let _ = crate::Hub; }"),
        ("b.rs", "pub fn make() -> crate::Thing { crate::Thing }"),
        ("c.rs", "pub struct Thing;"),
        ("d.rs", "impl crate::Hub { pub fn other(&self) {} }"),
        ("e.rs", "use crate::Hub;\npub fn call(h: &Hub) { h.other() }"),
    ]);
    assert_eq!(g[""], set(&["a", "c"]), "declaring modules is no edge, a re-export is: {g:?}");
    assert_eq!(g["b"], set(&["c"]), "{g:?}");
    assert_eq!(g["e"], set(&["", "d"]), "a method of an impl in another file: {g:?}");
    assert_eq!(circles(&g), vec![vec![String::new(), "a".to_string()]]);
}

#[test]
fn the_check_sees_a_use_that_climbs_a_layer() {
    let g = planted(&[
        ("lib.rs", "pub mod top; pub mod low; pub use low::L;"),
        ("top/mod.rs", "pub mod part; pub fn t() -> crate::low::L { crate::low::L }"),
        ("top/part.rs", "pub struct P;"),
        ("low.rs", "pub struct L; fn up() { let _ = crate::top::part::P; }"),
    ]);
    let layers: &[&[&str]] = &[&["top"], &["low"]];
    assert_eq!(upward(&g, layers), vec!["low uses top::part".to_string()]);
    let g =
        planted(&[("lib.rs", "pub mod low; pub struct Root;"), ("low.rs", "fn up() -> crate::Root { crate::Root }")]);
    assert_eq!(upward(&g, &[&["low"]]), vec!["low uses the crate root".to_string()]);
}
