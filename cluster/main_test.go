package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// protoactor throttles its dead-letter log with a goroutine that lives for
// one throttle interval after a dead letter and ends by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
