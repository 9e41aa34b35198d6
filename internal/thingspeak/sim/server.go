package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server serves a Simulator over HTTP. Whoever calls Start must call Close.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string

	http   *http.Server
	cancel context.CancelFunc // ends the base context of every request
	done   chan struct{}      // closed when the serving goroutine returns
	err    error              // Serve's failure, if any; read after done
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves s in a
// goroutine owned by the returned Server.
func Start(addr string, s *Simulator) (*Server, error) {
	// Listening is immediate on a local address; there is nothing to cancel.
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: listen on %s: %w", addr, err)
	}
	base, cancel := context.WithCancel(context.Background())
	srv := &Server{
		URL:    "http://" + ln.Addr().String(),
		cancel: cancel,
		done:   make(chan struct{}),
		http: &http.Server{
			Handler:           s,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		},
	}
	go func() {
		defer close(srv.done)
		if err := srv.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			srv.err = fmt.Errorf("sim: serve: %w", err)
		}
	}()
	return srv, nil
}

// Close stops accepting connections, lets requests in flight finish and
// waits for the serving goroutine. Requests sleeping out an injected latency
// are cut short with 503 first, so a long latency does not hold up Close. If
// ctx ends before the requests do, the remaining connections are closed.
func (srv *Server) Close(ctx context.Context) error {
	srv.cancel()
	err := srv.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("sim: shutdown: %w", err), srv.http.Close())
	}
	<-srv.done
	return errors.Join(err, srv.err)
}
