//! What Kubernetes' own components do on the embedded server, and what the simulated nodes
//! do on any server: the Deployment and ReplicaSet controllers' rollouts (`rollout`), the
//! kubelets that run the pods (`kubelet`), and what runs after each write on the embedded
//! server (`control`, the hook `SimState` calls). On a real control plane the real
//! controller-manager makes the pods; the kubelets are still these.
//!
//! `nodes` (the nodes' state) and `events` (the rollouts' and pods' event log) are plain
//! data `SimState` holds; the others act on a `SimState`, above it.

pub mod control;
pub mod events;
pub mod kubelet;
pub mod nodes;
pub mod rollout;
