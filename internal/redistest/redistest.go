// Package redistest runs a real redis-server for tests, on a free port on
// 127.0.0.1, with its data in a temporary directory (by default with the
// append-only file on and fsync'd at every write, so a restart keeps what
// was stored), and the faults tests put it through: stopped (SIGSTOP),
// killed (SIGKILL), restarted, and behind a proxy that loses a reply.
package redistest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server.
type Server struct {
	Addr    string // host:port on 127.0.0.1
	dir     string
	persist Persistence

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Persistence is how a Server keeps its data across restarts.
type Persistence int

const (
	// AOF: append-only file, fsync'd at every write: nothing acknowledged
	// is lost, even by a kill.
	AOF Persistence = iota
	// RDB: snapshots, only when the test asks (SAVE): a restart after a
	// kill comes back as of the last snapshot.
	RDB
	// None: a restart comes back empty.
	None
)

// Start starts a redis-server with AOF persistence, stopped at cleanup.
// Without redis-server in PATH the test is skipped, or fails when the CI
// environment variable is "true": CI must run everything.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, AOF)
}

// StartWith is Start with the given persistence.
func StartWith(t testing.TB, persist Persistence) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (scripts/test.sh installs it); under CI this is a failure")
		}
		t.Skip("redis-server is not installed; run scripts/test.sh, which installs it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, dir: t.TempDir(), persist: persist}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--save", "",
		"--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"}
	switch s.persist {
	case AOF:
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	case RDB:
		args = append(args, "--appendonly", "no")
	case None:
		args = append(args, "--appendonly", "no", "--dbfilename", "never-saved.rdb")
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("redis-server on %s did not answer within 10 s: %v", s.Addr, err)
		}
	}
}

// Stop stops the server (its data stays on disk for Restart).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Kill kills the server with SIGKILL, as a crash: what was not persisted
// is lost.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// Pause stops the server with SIGSTOP: it keeps its connections and
// answers nothing until Resume.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// Restart starts the stopped server again on the same address and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// Client returns a client for the server, closed at cleanup, configured
// as the README recommends: redis.NewClient with the defaults (3 retries,
// 3 s read timeout).
func (s *Server) Client(t testing.TB) *redis.Client {
	return ClientAt(t, s.Addr)
}

// ClientAt is Client for another address (a Proxy's).
func ClientAt(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// Unique returns a key prefix no other test uses.
func Unique(t testing.TB) string {
	return "test:" + filepath.Base(t.Name()) + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
