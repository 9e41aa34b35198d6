// Package actors is the home of Evara's actors, one sub-package each
// (SPEC §2): device (one per ThingSpeak channel), limiter (per-member
// supervisor and upstream budget), session (one per WebSocket), writer
// (batched reading writes) and msg (protobuf messages that cross members).
//
// The actors arrive with the device-runtime, persistence and WebSocket
// issues; this package itself holds no code. Actors never import api or
// persistence: they declare the small interfaces they need.
package actors
