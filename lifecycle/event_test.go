package lifecycle_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

func TestEventWireBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   lifecycle.Event
		want string
	}{
		{"zero event dispatches empty data", lifecycle.Event{}, "data: \n\n"},
		{"one line", lifecycle.Event{Data: []byte("hi")}, "data: hi\n\n"},
		{"leading space kept", lifecycle.Event{Data: []byte(" hi")}, "data:  hi\n\n"},
		{"LF split", lifecycle.Event{Data: []byte("a\nb")}, "data: a\ndata: b\n\n"},
		{"CR split", lifecycle.Event{Data: []byte("a\rb")}, "data: a\ndata: b\n\n"},
		{"CRLF is one break", lifecycle.Event{Data: []byte("a\r\nb")}, "data: a\ndata: b\n\n"},
		{"LF CR is two breaks", lifecycle.Event{Data: []byte("a\n\rb")}, "data: a\ndata: \ndata: b\n\n"},
		{"trailing break", lifecycle.Event{Data: []byte("a\n")}, "data: a\ndata: \n\n"},
		{"trailing CR", lifecycle.Event{Data: []byte("a\r")}, "data: a\ndata: \n\n"},
		{"all fields in order", lifecycle.Event{ID: "7", Type: "up", Data: []byte("x"), Retry: 1500 * time.Millisecond, Comment: "c1\nc2"},
			": c1\n: c2\nretry: 1500\nid: 7\nevent: up\ndata: x\n\n"},
		{"retry truncated to ms", lifecycle.Event{Retry: 2500 * time.Microsecond}, "retry: 2\ndata: \n\n"},
		{"sub-millisecond retry", lifecycle.Event{Retry: time.Microsecond}, "retry: 0\ndata: \n\n"},
		{"empty ID writes no id", lifecycle.Event{ID: "", Data: []byte("x")}, "data: x\n\n"},
		{"id with spaces and unicode", lifecycle.Event{ID: " a b…", Data: []byte("x")}, "id:  a b…\ndata: x\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ev.AppendTo([]byte("prefix|"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix|"+tc.want {
				t.Errorf("AppendTo = %q, want %q", got, "prefix|"+tc.want)
			}
		})
	}
}

func TestEventInvalidFields(t *testing.T) {
	for _, tc := range []struct {
		ev    lifecycle.Event
		field string
	}{
		{lifecycle.Event{ID: "a\nb"}, "ID"},
		{lifecycle.Event{ID: "a\rb"}, "ID"},
		{lifecycle.Event{ID: "\x00"}, "ID"},
		{lifecycle.Event{Type: "a\nb"}, "Type"},
		{lifecycle.Event{Type: "a\rb"}, "Type"},
		{lifecycle.Event{Retry: -1}, "Retry"},
	} {
		dst := []byte("keep")
		got, err := tc.ev.AppendTo(dst)
		var fe *lifecycle.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, lifecycle.ErrInvalidEvent) {
			t.Errorf("%+v: error %v, want a *FieldError for %s", tc.ev, err, tc.field)
			continue
		}
		if string(got) != "keep" {
			t.Errorf("%+v: dst changed to %q on error", tc.ev, got)
		}
		if want := "field " + tc.field; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the field (%q)", err, want)
		}
	}
}

func TestAppendToAllocatesNothing(t *testing.T) {
	ev := lifecycle.Event{ID: "12345", Data: []byte(`{"price":101.5,"symbol":"ACME"}`)}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = ev.AppendTo(buf[:0])
	})
	if allocs != 0 {
		t.Errorf("AppendTo allocates %v times per event, want 0", allocs)
	}
}

// The wire form of an event, exactly as the client receives it.
func ExampleEvent_AppendTo() {
	ev := lifecycle.Event{
		ID:   "42",
		Type: "price",
		Data: []byte("line one\nline two"),
	}
	b, err := ev.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s", b)
	// Output:
	// id: 42
	// event: price
	// data: line one
	// data: line two
}

// Invalid fields are rejected with an error naming the field.
func ExampleFieldError() {
	_, err := (&lifecycle.Event{ID: "1\n2"}).AppendTo(nil)
	var fe *lifecycle.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field, errors.Is(err, lifecycle.ErrInvalidEvent))
	fmt.Println(err)
	// Output:
	// true ID true
	// lifecycle: invalid event: field ID contains LF
}
