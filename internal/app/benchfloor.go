package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// The loopback floor: what this machine's TCP loopback costs per frame,
// measured in this process. It is the ceiling the member's delivery is
// held against: a small write on loopback costs the sender's syscall the
// receiver's TCP work too, so it is several µs of CPU before any
// application work, and the member shares the machine's cores with it.
const (
	// maxFloorConns bounds the floor's connections: each takes two
	// descriptors in this process, whose limit may be 20,000.
	maxFloorConns = 5000
	// floorFrames is enough writes for a stable figure (about 3 s of CPU at
	// 15 µs a frame).
	floorFrames = 200_000
	// floorTimeout bounds the measurement if the readers stop reading.
	floorTimeout = 2 * time.Minute
	// floorReadBuffer is each reader's buffer, reused for every read.
	floorReadBuffer = 4096
)

// floorConns is the number of connections for sessions sessions.
func floorConns(sessions int) int { return max(1, min(sessions, maxFloorConns)) }

// loopbackFloor is the floor's measurement.
type loopbackFloor struct {
	conns, frameBytes, frames int
	cpu                       time.Duration // this process's, user and system
}

func (f loopbackFloor) microsPerFrame() float64 {
	return f.cpu.Seconds() * 1e6 / float64(max(f.frames, 1))
}

// measureLoopbackFloor opens conns connected TCP pairs on 127.0.0.1, starts
// one reader goroutine per client side (as the load generator's sessions
// read), writes frames frames of frameBytes bytes to the server sides in
// turn, and returns the process's CPU from the first write until the
// readers have read every byte. Everything it opens is closed, and every
// goroutine it starts has returned, when it returns.
func measureLoopbackFloor(ctx context.Context, conns, frameBytes, frames int) (loopbackFloor, error) {
	ctx, cancel := context.WithTimeout(ctx, floorTimeout)
	defer cancel()
	pairs, err := dialPairs(ctx, conns)
	if err != nil {
		return loopbackFloor{}, fmt.Errorf("bench ws: loopback floor: %w", err)
	}
	// The end of ctx — the caller's, the timeout or this function's return
	// — closes the connections, which ends the reads and a blocked write.
	var readers, closer sync.WaitGroup
	closer.Go(func() { <-ctx.Done(); pairs.close() })
	defer func() {
		cancel()
		closer.Wait()
		readers.Wait()
	}()

	readErrs := make([]error, conns)
	for i, c := range pairs.clients {
		// Frame i goes to connection i % conns.
		want := int64(frameBytes) * int64(frames/conns+boolInt(i < frames%conns))
		readers.Go(func() { readErrs[i] = readAll(c, want) })
	}
	start, err := processCPU()
	if err != nil {
		return loopbackFloor{}, err
	}
	frame := bytes.Repeat([]byte{'x'}, frameBytes)
	for i := range frames {
		if _, err := pairs.servers[i%conns].Write(frame); err != nil {
			return loopbackFloor{}, fmt.Errorf("bench ws: loopback floor: %w", errors.Join(ctx.Err(), err))
		}
	}
	// The reads are half the floor: the CPU is read when they are done.
	readers.Wait()
	if err := errors.Join(readErrs...); err != nil {
		return loopbackFloor{}, fmt.Errorf("bench ws: loopback floor: %w", errors.Join(ctx.Err(), err))
	}
	end, err := processCPU()
	if err != nil {
		return loopbackFloor{}, err
	}
	return loopbackFloor{conns: conns, frameBytes: frameBytes, frames: frames, cpu: end - start}, nil
}

// readAll reads from c into one reused buffer until want bytes came.
func readAll(c net.Conn, want int64) error {
	buf := make([]byte, floorReadBuffer)
	for got := int64(0); got < want; {
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil && got < want {
			return err
		}
	}
	return nil
}

// tcpPairs are the two ends of connected loopback TCP connections:
// clients[i] is connected to servers[i].
type tcpPairs struct {
	clients, servers []net.Conn
}

// dialPairs connects n pairs one after another, so that the connection
// accepted is the one just dialled. On error it closes what it opened.
func dialPairs(ctx context.Context, n int) (*tcpPairs, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	p := &tcpPairs{clients: make([]net.Conn, 0, n), servers: make([]net.Conn, 0, n)}
	var d net.Dialer
	for range n {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			p.close()
			return nil, err
		}
		p.clients = append(p.clients, c)
		s, err := ln.Accept()
		if err != nil {
			p.close()
			return nil, err
		}
		p.servers = append(p.servers, s)
	}
	return p, nil
}

// close closes every connection.
func (p *tcpPairs) close() {
	for _, c := range slices.Concat(p.clients, p.servers) {
		_ = c.Close()
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
