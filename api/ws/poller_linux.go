//go:build linux

package ws

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller tells connections when their client has sent something, so that
// no goroutine has to wait in a read per connection: a goroutine's stack
// (4–8 KB) would be the largest thing an idle connection holds.
//
// It is one epoll instance in level-triggered one-shot mode: a connection
// is reported once, then not again until its reader re-arms it after
// reading what there was, so at most one goroutine reads a connection at
// a time, and bytes left in the socket are reported again at once. The
// epoll descriptor is itself registered with Go's netpoller (it is
// readable while it has events), so waiting for it holds no thread.
type poller struct {
	epfd int
	file *os.File        // owns epfd
	rc   syscall.RawConn // file's, to wait through the netpoller

	mu     sync.Mutex
	conns  map[uint64]*conn // by id, which the epoll event carries
	closed bool
}

// pollEvents are what a registration waits for: readable, or the client
// hung up (also readable: the read returns 0).
const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	// Non-blocking, so os.NewFile puts it in the netpoller.
	file := os.NewFile(uintptr(epfd), "ws-epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	p := &poller{epfd: epfd, file: file, rc: rc, conns: map[uint64]*conn{}}
	go p.run()
	return p, nil
}

// run hands each readable connection to its readable method until the
// poller is closed.
func (p *poller) run() {
	events := make([]unix.EpollEvent, 256)
	for {
		var n int
		var werr error
		err := p.rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			if werr == unix.EINTR {
				n, werr = 0, nil
			}
			return n > 0 || werr != nil // nothing yet: wait for the netpoller
		})
		if err != nil || werr != nil {
			return // closed
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil {
				c.readable()
			}
		}
	}
}

// add registers c's socket, armed.
func (p *poller) add(c *conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPollerClosed
	}
	if err := p.ctl(c, unix.EPOLL_CTL_ADD); err != nil {
		return err
	}
	p.conns[c.id] = c
	return nil
}

// rearm asks to be told again when c is readable (at once if it still is).
func (p *poller) rearm(c *conn) error {
	return p.ctl(c, unix.EPOLL_CTL_MOD)
}

// remove forgets c; its socket leaves the epoll set (closing it would do
// that too).
func (p *poller) remove(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns[c.id]; !ok {
		return
	}
	delete(p.conns, c.id)
	if !p.closed {
		_ = p.ctl(c, unix.EPOLL_CTL_DEL)
	}
}

// ctl changes c's registration. It goes through c's RawConn, so the socket
// cannot be closed (and its number reused) meanwhile.
func (p *poller) ctl(c *conn, op int) error {
	ev := unix.EpollEvent{Events: pollEvents, Fd: int32(uint32(c.id)), Pad: int32(uint32(c.id >> 32))}
	var cerr error
	if err := c.rc.Control(func(fd uintptr) {
		cerr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	}); err != nil {
		return err
	}
	return cerr
}

// close stops the poller; connections still registered are no longer
// reported.
func (p *poller) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	_ = p.file.Close() // run returns
}

var errPollerClosed = errors.New("ws: poller closed")

// readNonBlocking reads what c's socket holds into buf without waiting: n
// is 0 and again true when there is nothing now; err is io.EOF-like
// (errPeerGone) when the client has closed its side.
func (c *conn) readNonBlocking(buf []byte) (n int, again bool, err error) {
	var rerr error
	if err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), buf)
			if rerr != syscall.EINTR {
				return true // never wait: the poller does
			}
		}
	}); err != nil {
		return 0, false, err
	}
	switch {
	case rerr == syscall.EAGAIN:
		return 0, true, nil
	case rerr != nil:
		return 0, false, rerr
	case n == 0:
		return 0, false, errPeerGone
	}
	return n, false, nil
}

var errPeerGone = errors.New("ws: the client closed the connection")
