package limiter

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

var _ actor.SupervisorStrategy = (*limiter)(nil)

// HandleFailure is the supervisor strategy for the limiter's devices:
// protoactor uses an actor that implements actor.SupervisorStrategy for its
// own children, and runs it on that actor's mailbox, so the crash counts
// live with the rest of the limiter's state. A crashed device is restarted
// after an exponential backoff (restartBackoffMin doubling per crash within
// crashMemory, at most restartBackoffMax); one that crashed crashLimit
// times within crashWindow is stopped, logged and listed in Stats.Crashed.
// Only the failed child is touched: its siblings keep polling.
func (l *limiter) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	l.sup = sup
	id, known := l.byPID[child.Id]
	e := l.devices[id]
	if !known || e == nil || e.stopping {
		sup.StopChildren(child)
		return
	}
	now := l.cfg.Now()
	l.stats.Crashes++
	kept, inWindow := e.crashes[:0], 1
	for _, t := range e.crashes {
		if age := now.Sub(t); age < crashMemory {
			kept = append(kept, t)
			if age < crashWindow {
				inWindow++
			}
		}
	}
	e.crashes = append(kept, now)
	if inWindow >= crashLimit {
		l.crashed[id] = true
		l.desired.remove(id)
		e.next, e.stopping = nil, true
		stopTimer(e)
		sup.StopChildren(child)
		l.log.Error("device keeps crashing; stopped", "node_id", string(id), "crashes", inWindow,
			"within", crashWindow.String(), "reason", fmt.Sprint(reason))
		return
	}
	backoff := min(restartBackoffMin<<min(len(e.crashes)-1, 16), restartBackoffMax)
	l.log.Warn("device crashed; restarting", "node_id", string(id), "restart_in", backoff.String(), "reason", fmt.Sprint(reason))
	stopTimer(e)
	e.timerGen++
	msg, self := &restartDue{node: id, pid: child, gen: e.timerGen}, l.self
	e.timer = time.AfterFunc(backoff, func() { system.Root.Send(self, msg) })
}

// onRestartDue restarts a crashed device whose backoff has ended, unless
// it was stopped or replaced meanwhile.
func (l *limiter) onRestartDue(m *restartDue) {
	e := l.devices[m.node]
	if e == nil || e.stopping || e.pid.Id != m.pid.Id || e.timerGen != m.gen {
		return
	}
	e.timer = nil
	l.sup.RestartChildren(e.pid)
}
