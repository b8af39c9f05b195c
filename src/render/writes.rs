//! The dry run's listing of writes: every write exactly as it would be sent (its step, its
//! object, its kind and precondition, its patch), made from `plan::writes::Write`. The
//! commands show it with `--dry-run`, before a plan's totals.

use serde_json::Value;

use crate::plan::writes::{Expect, PatchType, Write};

/// Every write exactly as it would be sent: the dry run's listing.
pub fn writes_text(writes: &[Write]) -> String {
    let mut t = format!("Writes, in order (fieldManager={}):\n", crate::model::FIELD_MANAGER);
    for w in writes {
        t.push_str(&format!(
            "  step {} {} ({}{}{}): {}\n",
            w.step,
            crate::output::clean(&w.object.describe()),
            match w.patch_type {
                PatchType::Merge => "merge patch",
                PatchType::Strategic => "strategic merge patch",
                PatchType::Create => "create",
                PatchType::Delete => "delete",
                PatchType::Ceph => "ceph",
            },
            if w.preconditioned { ", resourceVersion precondition" } else { "" },
            if w.cleanup { ", sent even if interrupted" } else { "" },
            match (&w.patch, &w.expect) {
                (Value::Null, Expect::Gone { .. }) =>
                    "only if it is still ours (read first; its uid the precondition)".into(),
                (Value::Array(args), Expect::OsdFlag { .. }) => crate::output::clean(&format!(
                    "ceph {}",
                    args.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")
                ))
                .into_owned(),
                (patch, _) => crate::output::clean(&patch.to_string()).into_owned(),
            }
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_text_names_creates_and_deletes() {
        let w = crate::execute::prepull::writes(
            "rook-ceph",
            &["node-00".to_string()],
            "img:1",
            &Default::default(),
            std::time::Duration::from_secs(60),
        );
        let t = writes_text(&w);
        assert!(t.contains("step 1 pod/ceph-image-prepull-node-00 (create): {"), "{t}");
        assert!(
            t.contains(
                "step 2 pod/ceph-image-prepull-node-00 (delete, sent even if interrupted): only if it is still ours"
            ),
            "{t}"
        );
    }
}
