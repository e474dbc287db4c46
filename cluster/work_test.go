package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
)

func TestAPoolShedsOnceItsQueueIsFull(t *testing.T) {
	p := newPool(1, 2)
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error, 3)
	go func() { done <- p.do(context.Background(), func() error { close(started); <-release; return nil }) }()
	<-started
	for range 2 { // two wait for the busy slot
		go func() { done <- p.do(context.Background(), func() error { return nil }) }()
	}
	for p.waiting.Load() < 2 {
		// wait on the event itself: both are queued
		select {
		case err := <-done:
			t.Fatalf("a job ended before the slot was free: %v", err)
		default:
		}
	}
	if !p.full() {
		t.Fatal("with the queue holding its bound, full should say so")
	}
	if err := p.do(context.Background(), func() error { t.Error("a shed job ran"); return nil }); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("the job past the bound: got %v, want ErrOverloaded", err)
	}
	if p.shed.Load() != 1 || p.waiting.Load() != 2 {
		t.Fatalf("shed %d, waiting %d; want 1 and 2", p.shed.Load(), p.waiting.Load())
	}
	close(release)
	for range 3 {
		if err := <-done; err != nil {
			t.Fatalf("a queued job failed: %v", err)
		}
	}
	if p.full() {
		t.Fatal("drained, the pool still says full")
	}
}

func TestOverloadIsAnswered429WithRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, ErrOverloaded)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d with Retry-After %q, want 429 with a Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if code := replyCode(rec.Body.Bytes()); code != "overloaded" {
		t.Fatalf("code %q, want overloaded", code)
	}
}

func TestOnlyAConnectionClosedOrRefusedByThePeerIsACrashSignal(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"closed", io.EOF, true},
		{"closed mid-reply", io.ErrUnexpectedEOF, true},
		{"closed, as net/http words it", errors.New(`Get "http://127.0.0.1:1/v1/internal/watch": EOF`), true},
		{"a timeout: the peer may be alive but slow or cut off", context.DeadlineExceeded, false},
		{"our own stop", context.Canceled, false},
		{"anything else", errors.New("no route to host"), false},
	}
	for _, tt := range tests {
		if got := brokenByPeer(tt.err); got != tt.want {
			t.Errorf("%s: brokenByPeer(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
