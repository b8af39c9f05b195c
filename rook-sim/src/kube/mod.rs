//! What Kubernetes' own components do on the embedded server, and what the simulated nodes
//! do on any server: the Deployment and ReplicaSet controllers' rollouts (`rollout`) and
//! the kubelets that run the pods (`kubelet`). On a real control plane the real
//! controller-manager makes the pods; the kubelets are still these.

pub mod control;
pub mod events;
pub mod kubelet;
pub mod nodes;
pub mod rollout;
