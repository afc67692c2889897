package conformance

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// roundTrip is a case that sends evs and checks that a spec-exact client
// dispatches exactly want.
func roundTrip(name, rule string, evs []lifecycle.Event, want []Event) testCase {
	return testCase{name: name, rule: rule, run: func(c *caseT) {
		srv := c.serve(sendThenWait(evs...), lifecycle.Options{Heartbeat: -1}, ServerConfig{})
		st := srv.connect(srv.url("a", ""), nil)
		for i, w := range want {
			got := c.next(st, 10*time.Second)
			if got != w {
				c.Errorf("event %d = %s, want %s", i, show(got), show(w))
			}
		}
	}}
}

// show prints an event with its strings quoted, shortening long data.
func show(e Event) string {
	data := e.Data
	if len(data) > 80 {
		data = data[:80] + "…(" + strconv.Itoa(len(e.Data)) + " bytes)"
	}
	return "{Type:" + strconv.Quote(e.Type) + " Data:" + strconv.Quote(data) + " LastEventID:" + strconv.Quote(e.LastEventID) + "}"
}

func msg(data string) lifecycle.Event { return lifecycle.Event{Data: []byte(data)} }

func encodingCases() []testCase {
	big := bigPayload()
	return []testCase{
		roundTrip("data-one-line",
			"WHATWG §9.2.6: a data field becomes the event's data; the type defaults to message",
			[]lifecycle.Event{msg("hello")},
			[]Event{{"message", "hello", ""}}),
		roundTrip("data-multi-line-lf",
			"WHATWG §9.2.6: each line of data is its own data field; the client joins them with LF",
			[]lifecycle.Event{msg("a\nb\n\nc")},
			[]Event{{"message", "a\nb\n\nc", ""}}),
		roundTrip("data-cr-crlf-lf-mixed",
			"WHATWG §9.2.5: CRLF, CR and LF all end a line, so data is split on each and rejoined with LF",
			[]lifecycle.Event{msg("a\rb\r\nc\nd\r\r\ne")},
			[]Event{{"message", "a\nb\nc\nd\n\ne", ""}}),
		roundTrip("data-trailing-line-break",
			"WHATWG §9.2.6: a trailing line break in data survives as a trailing empty data line",
			[]lifecycle.Event{msg("x\n"), msg("y\r\n")},
			[]Event{{"message", "x\n", ""}, {"message", "y\n", ""}}),
		roundTrip("data-empty-dispatches",
			"WHATWG §9.2.6: an event with empty data is still dispatched (one empty data line)",
			[]lifecycle.Event{{}, {Data: []byte{}}, msg("after")},
			[]Event{{"message", "", ""}, {"message", "", ""}, {"message", "after", ""}}),
		roundTrip("data-leading-space",
			"WHATWG §9.2.6: one space after the colon is stripped, so the encoder always writes one "+
				"and a value starting with spaces survives",
			[]lifecycle.Event{msg(" one"), msg("  two"), msg("\ttab")},
			[]Event{{"message", " one", ""}, {"message", "  two", ""}, {"message", "\ttab", ""}}),
		roundTrip("data-cannot-inject",
			"WHATWG §9.2.5-6: line breaks in data can neither start a new field nor a new event",
			[]lifecycle.Event{msg("x\n\nevent: evil\nid: 666\nretry: 1\ndata: y\n\n"), msg("next")},
			[]Event{{"message", "x\n\nevent: evil\nid: 666\nretry: 1\ndata: y\n\n", ""}, {"message", "next", ""}}),
		roundTrip("data-unicode-and-nul",
			"WHATWG §9.2.5: the stream is UTF-8; every code point, NUL included, round-trips",
			[]lifecycle.Event{msg("héllo 世界 🚀 \x00 end")},
			[]Event{{"message", "héllo 世界 🚀 \x00 end", ""}}),
		roundTrip("id-and-type",
			"WHATWG §9.2.6: id sets the last event ID, which persists for later events; event sets "+
				"the type of this event only",
			[]lifecycle.Event{{ID: "42", Type: "update", Data: []byte("a")}, msg("b"), {ID: " spaced", Data: []byte("c")}},
			[]Event{{"update", "a", "42"}, {"message", "b", "42"}, {"message", "c", " spaced"}}),
		roundTrip("large-event",
			"ssekit: a 1 MiB event arrives whole and exact",
			[]lifecycle.Event{{ID: "big", Data: []byte(big)}, msg("after")},
			[]Event{{"message", big, "big"}, {"message", "after", "big"}}),
		roundTrip("many-events-in-order",
			"ssekit: events arrive in the order they were sent, none lost",
			manyEvents(1000), manyWant(1000)),
		{
			name: "reset-last-id",
			rule: "WHATWG §9.2.6: an empty id field resets the last event ID; Session.ResetLastID is the " +
				"deliberate way to write one",
			run: func(c *caseT) {
				srv := c.serve(func(s *lifecycle.Session) error {
					s.Send(lifecycle.Event{ID: "7", Data: []byte("a")})
					if err := s.ResetLastID(); err != nil {
						return err
					}
					s.Send(msg("b"))
					<-s.Done()
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				if ev := c.next(st, 10*time.Second); ev.LastEventID != "7" {
					c.Errorf("first event id = %q, want 7", ev.LastEventID)
				}
				if ev := c.next(st, 10*time.Second); ev.LastEventID != "" || ev.Data != "b" {
					c.Errorf("after ResetLastID: %s, want data b with empty id", show(ev))
				}
			},
		},
		{
			name: "invalid-fields-rejected",
			rule: "ssekit: an ID or type with CR or LF, an ID with NUL, or a negative retry is rejected " +
				"with a *FieldError naming the field, and nothing of that event is written",
			run: func(c *caseT) {
				type bad struct {
					ev    lifecycle.Event
					field string
				}
				bads := []bad{
					{lifecycle.Event{ID: "a\nb"}, "ID"},
					{lifecycle.Event{ID: "a\rb"}, "ID"},
					{lifecycle.Event{ID: "a\x00b"}, "ID"},
					{lifecycle.Event{Type: "x\ny"}, "Type"},
					{lifecycle.Event{Type: "x\ry"}, "Type"},
					{lifecycle.Event{Retry: -time.Second}, "Retry"},
				}
				errs := make(chan error, len(bads)+1)
				srv := c.serve(func(s *lifecycle.Session) error {
					for _, b := range bads {
						b.ev.Data = []byte("must not appear")
						b.ev.Comment = "must not appear"
						errs <- s.Send(b.ev)
					}
					errs <- s.SetRetry(-time.Millisecond)
					s.Send(lifecycle.Event{ID: "ok", Data: []byte("valid")})
					<-s.Done()
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				ev := c.next(st, 10*time.Second)
				if ev != (Event{"message", "valid", "ok"}) {
					c.Errorf("first event = %s, want only the valid event", show(ev))
				}
				for _, b := range append(bads, bad{field: "Retry"}) {
					err := waitFor(c, errs, 5*time.Second, "Send's error")
					var fe *lifecycle.FieldError
					if !errors.As(err, &fe) || fe.Field != b.field || !errors.Is(err, lifecycle.ErrInvalidEvent) {
						c.Errorf("invalid %s: error %v, want a *FieldError for %s matching ErrInvalidEvent", b.field, err, b.field)
					}
				}
				for _, cm := range st.Comments() {
					if strings.Contains(cm.Text, "must not appear") {
						c.Errorf("a rejected event's comment was written: %q", cm.Text)
					}
				}
			},
		},
		{
			name: "retry-field",
			rule: "WHATWG §9.2.6: retry sets the reconnection time in integer milliseconds, from " +
				"Event.Retry or Session.SetRetry",
			run: func(c *caseT) {
				srv := c.serve(func(s *lifecycle.Session) error {
					s.Send(lifecycle.Event{Retry: 2500 * time.Millisecond, Data: []byte("a")})
					s.SetRetry(3 * time.Second)
					s.Send(msg("b"))
					<-s.Done()
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				c.next(st, 10*time.Second)
				if got := st.Retry(); got != 2500*time.Millisecond {
					c.Errorf("retry after the first event = %v, want 2.5s", got)
				}
				c.next(st, 10*time.Second)
				if got := st.Retry(); got != 3*time.Second {
					c.Errorf("retry after SetRetry = %v, want 3s", got)
				}
			},
		},
		{
			name: "comments",
			rule: "WHATWG §9.2.6: a line starting with a colon is a comment the client ignores; " +
				"Session.Comment and Event.Comment write one per line of text and dispatch nothing",
			run: func(c *caseT) {
				srv := c.serve(func(s *lifecycle.Session) error {
					s.Comment("one\ntwo\r\nthree")
					s.Send(lifecycle.Event{Comment: "lead", Data: []byte("x")})
					<-s.Done()
					return nil
				}, lifecycle.Options{Heartbeat: -1}, ServerConfig{})
				st := srv.connect(srv.url("a", ""), nil)
				if ev := c.next(st, 10*time.Second); ev != (Event{"message", "x", ""}) {
					c.Errorf("first event = %s, want the data event (comments dispatch nothing)", show(ev))
				}
				var texts []string
				for _, cm := range st.Comments() {
					texts = append(texts, strings.TrimPrefix(cm.Text, " "))
				}
				if want := []string{"one", "two", "three", "lead"}; !slices.Equal(texts, want) {
					c.Errorf("comments = %q, want %q", texts, want)
				}
			},
		},
	}
}

func bigPayload() string {
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString("0123456789abcdefghijklmnopqrstuvwxyz-")
		if b.Len()%4096 < 37 {
			b.WriteByte('\n')
		}
	}
	return b.String()[:1<<20]
}

func manyEvents(n int) []lifecycle.Event {
	evs := make([]lifecycle.Event, n)
	for i := range evs {
		evs[i] = lifecycle.Event{ID: strconv.Itoa(i), Data: []byte("event " + strconv.Itoa(i))}
	}
	return evs
}

func manyWant(n int) []Event {
	want := make([]Event, n)
	for i := range want {
		want[i] = Event{"message", "event " + strconv.Itoa(i), strconv.Itoa(i)}
	}
	return want
}
