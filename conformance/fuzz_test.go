package conformance

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/ssekit/lifecycle"
)

// newlines turns CRLF and CR into LF, as the SSE line splitting does.
var newlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// decoded is s as a browser decodes it (WHATWG UTF-8: each maximal
// ill-formed subsequence becomes U+FFFD; tested against the WPT vectors).
func decoded(s string) string { return (&Parser{}).decode([]byte(s)) }

// An event either round-trips through the spec parser exactly (as a browser
// would decode it) or is rejected with a *FieldError naming the field, with
// nothing written.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("1", "", "hello", int64(0), "")
	f.Add("", "update", "line one\nline two\r\nline three\rfour\n", int64(1500), "a comment\nover lines")
	f.Add("id\x00", "t", "", int64(0), "")
	f.Add("x", "a\nb", "", int64(0), "")
	f.Add("x", "", "", int64(-1), "")
	f.Add("", "", "\xff\xfe bad utf-8 \xe2\x82", int64(0), "\xc0")
	f.Add(" leading space", " type", " data: not a field\n\nid: 9", int64(1), ": colon")
	f.Add("\ufeffbom", "", "\ufeff", int64(0), "")
	f.Fuzz(func(t *testing.T, id, typ, data string, retryMs int64, comment string) {
		retryMs %= 1 << 40 // keep Duration from overflowing
		e := lifecycle.Event{ID: id, Type: typ, Data: []byte(data),
			Retry: time.Duration(retryMs) * time.Millisecond, Comment: comment}
		wire, err := e.AppendTo(nil)

		var wantField string
		switch {
		case strings.ContainsAny(id, "\r\n\x00"):
			wantField = "ID"
		case strings.ContainsAny(typ, "\r\n"):
			wantField = "Type"
		case retryMs < 0:
			wantField = "Retry"
		}
		if wantField != "" {
			var fe *lifecycle.FieldError
			if !errors.As(err, &fe) || fe.Field != wantField || !errors.Is(err, lifecycle.ErrInvalidEvent) {
				t.Fatalf("AppendTo(%+v) = %v, want a *FieldError for %s", e, err, wantField)
			}
			if len(wire) != 0 {
				t.Fatalf("AppendTo wrote %q with an error", wire)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendTo(%+v) rejected a valid event: %v", e, err)
		}

		var comments []string
		p := NewParser(bytes.NewReader(wire))
		p.OnComment = func(c string) { comments = append(comments, c) }
		got, err := p.Next()
		if err != nil {
			t.Fatalf("wire %q: Next: %v", wire, err)
		}
		if ev, err := p.Next(); err != io.EOF {
			t.Fatalf("wire %q: a second event %+v, %v", wire, ev, err)
		}
		want := Event{Type: "message", Data: decoded(newlines.Replace(data)), LastEventID: decoded(id)}
		if typ != "" {
			want.Type = decoded(typ)
		}
		if got != want {
			t.Fatalf("wire %q: got %+v, want %+v", wire, got, want)
		}
		if want := e.Retry.Truncate(time.Millisecond); p.Retry() != want {
			t.Fatalf("wire %q: retry %v, want %v", wire, p.Retry(), want)
		}
		var wantComments []string
		if comment != "" {
			for _, line := range strings.Split(newlines.Replace(comment), "\n") {
				wantComments = append(wantComments, " "+decoded(line))
			}
		}
		if strings.Join(comments, "\x00") != strings.Join(wantComments, "\x00") || len(comments) != len(wantComments) {
			t.Fatalf("wire %q: comments %q, want %q", wire, comments, wantComments)
		}
	})
}

// The parser never panics, never returns an error other than io.EOF or
// ErrLineTooLong on an in-memory stream, and its buffer stays bounded by
// MaxLine, whatever the bytes.
func FuzzParser(f *testing.F) {
	f.Add([]byte("data: a\n\n"))
	f.Add([]byte("\xef\xbb\xbfdata: bom\r\n\r\nid: 1\x00\nretry: 12a\nretry: 34\nevent: e\ndata\n\n: c\r"))
	f.Add([]byte("data:\xff\xfe\n\ndata: " + strings.Repeat("x", 300) + "\n\n"))
	f.Add([]byte("\r\r\n\n:\nid\nid:\ndata: unterminated"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		const maxLine = 256
		p := NewParser(iotestHalf{bytes.NewReader(stream)})
		p.MaxLine = maxLine
		for range len(stream) + 2 { // each event consumes at least one byte
			_, err := p.Next()
			if cap(p.buf) > 4*maxLine+16<<10 {
				t.Fatalf("parser buffer grew to %d bytes with MaxLine %d", cap(p.buf), maxLine)
			}
			if err == io.EOF || errors.Is(err, ErrLineTooLong) {
				return
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
		}
		t.Fatalf("no end after %d events from %d bytes", len(stream)+2, len(stream))
	})
}

// iotestHalf reads at most half of what is asked (at least one byte), so
// lines and UTF-8 sequences are split across reads.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) {
	return h.r.Read(p[:max(1, len(p)/2)])
}

// An endless line costs the parser MaxLine of memory, not the stream's length.
func TestParserEndlessLineBoundedMemory(t *testing.T) {
	const maxLine = 1 << 20
	p := NewParser(io.LimitReader(endless{}, 1<<30))
	p.MaxLine = maxLine
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := p.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("Next on a 1 GiB line: %v, want ErrLineTooLong", err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*maxLine {
		t.Errorf("parser allocated %d bytes for a line cut at %d", alloc, maxLine)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}
