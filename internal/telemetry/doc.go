// Package telemetry is Evara's domain vocabulary: the identifiers, readings,
// statuses and sentinel errors that every other package speaks.
//
// It imports nothing from this module, so every package may import it. The
// types are plain values; they are safe to copy and to share between
// goroutines once built.
package telemetry
