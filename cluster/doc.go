// Package cluster will own membership (protoactor's providers: single
// member, static list, Kubernetes), device placement by rendezvous hashing
// and routing of messages to the member that owns a device (SPEC §2). It
// may import actors; nothing but internal/app imports it.
//
// It arrives with the device-runtime issue. Import protoactor's own cluster
// package as protocluster (enforced by the golangci-lint importas rule).
package cluster
