package session_test

import (
	"testing"

	"go.uber.org/goleak"
)

// protoactor throttles its dead-letter log with a goroutine that lives for
// one throttle interval (1 s) after a dead letter and then ends by itself:
// not ours to stop. A session retrying a device that is not there (yet)
// produces dead letters.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
