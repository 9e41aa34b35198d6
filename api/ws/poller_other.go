//go:build !linux

package ws

import "errors"

// poller is Linux's (epoll); elsewhere each connection reads in a
// goroutine of its own (readBlocking).
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("ws: no poller on this platform") }

func (p *poller) add(*conn) error   { return errors.New("ws: no poller on this platform") }
func (p *poller) rearm(*conn) error { return errors.New("ws: no poller on this platform") }
func (p *poller) remove(*conn)      {}
func (p *poller) close()            {}

func (c *conn) readNonBlocking([]byte) (int, bool, error) {
	return 0, false, errors.New("ws: no poller on this platform")
}
