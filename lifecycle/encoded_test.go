package lifecycle_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/ssekit/ssekit/lifecycle"
)

// An Encoded is written byte for byte as Send writes its event, in one
// write for a batch; Encode rejects what Send rejects.
func TestSendEncoded(t *testing.T) {
	s, m, done := openSession(t, lifecycle.Options{Heartbeat: -1})
	evs := []lifecycle.Event{
		{ID: "1-2", Type: "t", Data: []byte("a\r\nb\rc\nd")},
		{},
		{Comment: "c\nd", Retry: 1500, Data: []byte(" x")},
	}
	var encs []lifecycle.Encoded
	var want []byte
	for _, e := range evs {
		x, err := lifecycle.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if w, _ := e.AppendTo(nil); x.Len() != len(w) {
			t.Errorf("Encode(%+v).Len() = %d, want %d", e, x.Len(), len(w))
		}
		encs = append(encs, x)
		want, _ = e.AppendTo(want)
	}
	encs = append(encs, lifecycle.Encoded{}) // the zero Event's
	want, _ = (&lifecycle.Event{}).AppendTo(want)
	m.mu.Lock()
	writes, before := m.writes, m.buf.Len()
	m.mu.Unlock()
	if err := s.SendEncoded(encs); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	if got := m.buf.Bytes()[before:]; !bytes.Equal(got, want) || m.writes != writes+1 {
		t.Errorf("SendEncoded wrote %q in %d writes, want %q in 1", got, m.writes-writes, want)
	}
	m.mu.Unlock()

	for _, bad := range []lifecycle.Event{{ID: "x\ny"}, {ID: "a\x00"}, {Type: "a\rb"}, {Retry: -1}} {
		var fe *lifecycle.FieldError
		if x, err := lifecycle.Encode(bad); !errors.As(err, &fe) || !errors.Is(err, lifecycle.ErrInvalidEvent) || x != (lifecycle.Encoded{}) {
			t.Errorf("Encode(%+v) = %v, %v; want a FieldError and the zero Encoded", bad, x, err)
		}
	}
	s.Close()
	wait(t, done, "Serve's return")
	if err := s.SendEncoded(encs); !errors.Is(err, lifecycle.ErrEnded) {
		t.Errorf("SendEncoded after the end: %v, want ErrEnded", err)
	}
}

func TestSendEncodedAllocatesNothing(t *testing.T) {
	s, _, done := openSession(t, lifecycle.Options{Heartbeat: -1})
	x, err := lifecycle.Encode(lifecycle.Event{ID: "12345-678", Data: []byte(`{"price":101.5,"symbol":"ACME"}`)})
	if err != nil {
		t.Fatal(err)
	}
	batch := []lifecycle.Encoded{x, x}
	if allocs := testing.AllocsPerRun(1000, func() {
		if err := s.SendEncoded(batch); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("SendEncoded allocates %v times, want 0", allocs)
	}
	s.Close()
	wait(t, done, "Serve's return")
}

func TestEncodeAllocatesOnce(t *testing.T) {
	e := lifecycle.Event{ID: "12345-678", Data: []byte(`{"price":101.5,"symbol":"ACME"}`)}
	if allocs := testing.AllocsPerRun(1000, func() { lifecycle.Encode(e) }); allocs != 1 {
		t.Errorf("Encode of a small event allocates %v times, want 1 (its wire form)", allocs)
	}
}

// An event sent to many sessions is encoded once; each session writes the
// same bytes.
func ExampleEncode() {
	x, err := lifecycle.Encode(lifecycle.Event{ID: "42", Type: "price", Data: []byte("101.5\n102")})
	if err != nil {
		return // a *FieldError: an ID or Type with a line break
	}
	fmt.Print(x)
	// For each subscribed session s: s.SendEncoded([]lifecycle.Encoded{x})

	// Output:
	// id: 42
	// event: price
	// data: 101.5
	// data: 102
}
