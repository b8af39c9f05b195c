//! What `set`, `unset`, `pause cluster` and `resume cluster` say once the CephCluster's
//! patch is applied and read back: its new generation and the restarts the operator will
//! now make, as planned.

use crate::output::clean;
use crate::plan::Plan;

/// `Applied: CephCluster NS/NAME now at generation N; the operator will restart K pod(s) as
/// planned` (or `no pod restarts`); `generation`: read back after the patch (0 if absent).
pub fn applied_text(plan: &Plan, generation: Option<i64>, ns: &str) -> String {
    {
        format!(
            "{}: CephCluster {ns}/{} now at generation {}; {}\n",
            "Applied",
            clean(&plan.cluster),
            generation.unwrap_or(0),
            if plan.summary.restart_pods > 0 {
                format!("the operator will restart {} pod(s) as planned", plan.summary.restart_pods)
            } else {
                "no pod restarts".to_string()
            }
        )
    }
}
