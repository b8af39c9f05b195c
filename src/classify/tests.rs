//! Which containers run Ceph, on pod specs shaped as Rook writes them.

use super::*;
use serde_json::json;

fn spec(v: serde_json::Value) -> PodSpec {
    serde_json::from_value(v).unwrap()
}

fn set(images: &[&str]) -> BTreeSet<String> {
    images.iter().map(|s| s.to_string()).collect()
}

#[test]
fn ceph_containers_are_found_by_image_and_helpers_are_not() {
    let s = spec(json!({
        "initContainers": [{"name": "chown", "image": "ceph:1"}],
        "containers": [
            {"name": "mgr", "image": "ceph:1", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:1"}]},
            {"name": "watch-active", "image": "rook:1", "env": [{"name": "ROOK_CLUSTER_ID", "value": "x"}]},
            {"name": "log-collector", "image": "ceph:1"}]
    }));
    let p = ceph_parts(&s, &ceph_set(&set(&["ceph:1"]), &s, None), Some(DaemonType::Mgr));
    assert_eq!(p.main.as_deref(), Some("ceph:1"));
    assert_eq!(p.images, ["ceph:1"]);
    let names: Vec<&str> = p.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["chown", "mgr", "log-collector"], "watch-active runs the Rook image");
    assert!(p.own_images.is_empty());
}

#[test]
fn an_nfs_ganesha_container_keeps_its_own_image() {
    let s = spec(json!({
        "initContainers": [{"name": "generate-minimal-ceph-conf", "image": "ceph:19", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:19"}]}],
        "containers": [
            {"name": "nfs-ganesha", "image": "ganesha:5", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:19"}]},
            {"name": "dbus-daemon", "image": "ganesha:5"}]
    }));
    let p = ceph_parts(&s, &ceph_set(&set(&["ceph:19"]), &s, None), Some(DaemonType::Nfs));
    assert_eq!(p.images, ["ceph:19"], "the Ganesha image is not drift");
    let own: Vec<&str> = p.own_images.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(own, ["nfs-ganesha", "dbus-daemon"]);
    let ganesha = p.containers.iter().find(|c| c.name == "nfs-ganesha").unwrap();
    assert!(ganesha.has_env && !ganesha.runs_ceph, "the fence rewrites its variable, never its image");
    assert!(!p.containers.iter().any(|c| c.name == "dbus-daemon"));
}

/// Rook v1.20's NFS (nfs/spec.go): dbus-daemon's CONTAINER_IMAGE names the NFS image.
/// That value is not a Ceph image: the Ganesha containers keep their image, and the
/// fence rewrites neither it nor dbus-daemon's variable; a sidecar on the Ceph image is Ceph.
#[test]
fn the_nfs_dbus_variable_names_the_nfs_image_not_ceph() {
    let s = spec(json!({
        "containers": [
            {"name": "nfs-ganesha", "image": "ganesha:6", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:19"}]},
            {"name": "dbus-daemon", "image": "ganesha:6", "env": [{"name": "CONTAINER_IMAGE", "value": "ganesha:6"}]},
            {"name": "log-collector", "image": "ceph:19"}]
    }));
    let p = ceph_parts(&s, &set(&["ceph:19"]), Some(DaemonType::Nfs));
    assert_eq!(p.images, ["ceph:19"]);
    assert_eq!(p.main.as_deref(), Some("ceph:19"), "the Ceph image its variable names");
    assert!(p.moved_by_hand.is_none());
    let c = |n: &str| p.containers.iter().find(|c| c.name == n).cloned();
    assert!(c("dbus-daemon").is_none(), "neither its image nor its variable is Ceph's");
    assert!(c("nfs-ganesha").is_some_and(|c| c.has_env && !c.runs_ceph));
    assert!(c("log-collector").is_some_and(|c| c.runs_ceph));
    assert_eq!(images(&s, Some("ceph:19"), Some(DaemonType::Nfs)), ["ceph:19"], "a fenced NFS verifies");
    assert_eq!(main_image(&s, None, Some(DaemonType::Nfs)).as_deref(), Some("ceph:19"));
    // Without a server image, Rook writes the Ceph image everywhere: a Ganesha image on
    // nfs-ganesha is then a hand edit.
    let s = spec(json!({
        "containers": [
            {"name": "nfs-ganesha", "image": "ganesha:6", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:19"}]},
            {"name": "dbus-daemon", "image": "ceph:19", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:19"}]}]
    }));
    let p = ceph_parts(&s, &set(&["ceph:19"]), Some(DaemonType::Nfs));
    assert_eq!(p.main.as_deref(), Some("ganesha:6"));
    assert_eq!(p.images, ["ceph:19", "ganesha:6"]);
    assert_eq!(p.moved_by_hand.map(|h| h.container), Some("nfs-ganesha".to_string()));
}

/// `kubectl set image ... rgw=`: only the main container moved; its sidecars and its
/// variable did not. The daemon runs the main container's image, by Rook's name for it.
#[test]
fn the_main_container_is_found_by_name_whatever_its_sidecars_run() {
    let s = spec(json!({
        "initContainers": [{"name": "chown-container-data-dir", "image": "ceph:v19.2.1"}],
        "containers": [
            {"name": "rgw", "image": "other.example/ceph:v19.2.3", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:v19.2.1"}]},
            {"name": "ops-log", "image": "ceph:v19.2.1"},
            {"name": "log-collector", "image": "ceph:v19.2.1"}]
    }));
    let p = ceph_parts(&s, &set(&["ceph:v19.2.1"]), Some(DaemonType::Rgw));
    assert_eq!(p.main.as_deref(), Some("other.example/ceph:v19.2.3"));
    assert_eq!(p.images, ["ceph:v19.2.1", "other.example/ceph:v19.2.3"]);
    let rgw = p.containers.iter().find(|c| c.name == "rgw").unwrap();
    assert!(rgw.runs_ceph && rgw.has_env, "the fence rewrites it");
    assert!(p.own_images.is_empty());
    let h = p.moved_by_hand.unwrap();
    assert_eq!((h.container.as_str(), h.rook.as_str()), ("rgw", "ceph:v19.2.1"));
    assert_eq!(main_image(&s, None, Some(DaemonType::Rgw)).as_deref(), Some("other.example/ceph:v19.2.3"));
    assert_eq!(type_of_deployment_name("rook-ceph-rgw-my-store-a"), Some(DaemonType::Rgw));
    assert_eq!(type_of_deployment_name("rook-ceph-fs-mirror"), Some(DaemonType::Cephfsmirror));
    assert_eq!(type_of_deployment_name("rook-ceph-tools"), None);
}

#[test]
fn a_drifted_daemon_is_still_ceph_through_its_variable() {
    let s = spec(
        json!({"containers": [{"name": "rgw", "image": "ceph:v19.2.0", "env": [{"name": "CONTAINER_IMAGE", "value": "ceph:v19.2.0"}]}]}),
    );
    let p = ceph_parts(&s, &ceph_set(&set(&["ceph:v19.2.1"]), &s, None), Some(DaemonType::Rgw));
    assert_eq!(p.images, ["ceph:v19.2.0"]);
    assert_eq!(p.main.as_deref(), Some("ceph:v19.2.0"));
}
