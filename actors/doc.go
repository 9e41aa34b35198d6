// Package actors is the home of Evara's actors, one sub-package each
// (SPEC §2): device (one per ThingSpeak channel), limiter (per-member
// supervisor and upstream budget), session (one per WebSocket), writer
// (batched reading writes) and msg (protobuf messages that cross members).
// devicetest holds the fakes and helpers the device and limiter tests share.
//
// This package itself holds no code. Actors never import api or
// persistence: they declare the small interfaces they need.
package actors
