//! The resource kinds the simulated apiserver serves, with what discovery says of them.

#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Built-in kinds accept strategic merge patches; custom resources answer 415.
    pub builtin: bool,
    /// Writes to the main resource ignore `status`; `/status` writes only `status`.
    pub status_subresource: bool,
}

impl Kind {
    /// `deployments.apps`, `pods`, `cephclusters.ceph.rook.io`: as the apiserver names a
    /// resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `CephCluster.ceph.rook.io`, as in Invalid messages.
    pub fn kind_qualified(&self) -> String {
        if self.group.is_empty() { self.kind.to_string() } else { format!("{}.{}", self.kind, self.group) }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }
}

pub const NAMESPACES: Kind = Kind {
    group: "",
    version: "v1",
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    short_names: &["ns"],
    categories: &[],
    builtin: true,
    status_subresource: true,
};
pub const PODS: Kind = Kind {
    group: "",
    version: "v1",
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    short_names: &["po"],
    categories: &["all"],
    builtin: true,
    status_subresource: true,
};
pub const EVENTS: Kind = Kind {
    group: "",
    version: "v1",
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    short_names: &["ev"],
    categories: &[],
    builtin: true,
    status_subresource: false,
};
pub const DEPLOYMENTS: Kind = Kind {
    group: "apps",
    version: "v1",
    plural: "deployments",
    singular: "deployment",
    kind: "Deployment",
    namespaced: true,
    short_names: &["deploy"],
    categories: &["all"],
    builtin: true,
    status_subresource: true,
};
pub const CRDS: Kind = Kind {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    kind: "CustomResourceDefinition",
    namespaced: false,
    short_names: &["crd", "crds"],
    categories: &["api-extensions"],
    builtin: true,
    status_subresource: true,
};
pub const CEPHCLUSTERS: Kind = Kind {
    group: "ceph.rook.io",
    version: "v1",
    plural: "cephclusters",
    singular: "cephcluster",
    kind: "CephCluster",
    namespaced: true,
    short_names: &["ceph"],
    categories: &[],
    builtin: false,
    status_subresource: true,
};

pub const ALL: [&Kind; 6] = [&NAMESPACES, &PODS, &EVENTS, &DEPLOYMENTS, &CRDS, &CEPHCLUSTERS];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Kind> {
    ALL.into_iter().find(|k| k.group == group && k.version == version && k.plural == plural)
}

/// The API groups in discovery order, each with its kinds.
pub fn groups() -> Vec<(&'static str, Vec<&'static Kind>)> {
    let mut out: Vec<(&'static str, Vec<&'static Kind>)> = Vec::new();
    for k in ALL {
        match out.iter_mut().find(|(g, _)| *g == k.group) {
            Some((_, ks)) => ks.push(k),
            None => out.push((k.group, vec![k])),
        }
    }
    out
}
