package writer_test

import (
	"testing"

	"go.uber.org/goleak"
)

// protoactor's dead-letter log throttle sleeps out its period after an
// actor system stops, then exits: not a leak of ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
