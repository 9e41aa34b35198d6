// Package msg holds the protobuf messages that cross members of an Evara
// cluster: requests to device actors (GetLatest, Subscribe, Unsubscribe)
// and the events devices send their subscribers, and requests to stats
// actors (GetMemberStats). They are plain data,
// safe to share once built and never mutated after being sent.
//
// msg.pb.go is generated from msg.proto by `make generate`; the CI checks
// that it is current.
package msg

//go:generate protoc --go_out=. --go_opt=paths=source_relative msg.proto
