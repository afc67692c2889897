package conformance_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ssekit/ssekit/conformance"
)

// The vectors of web-platform-tests eventsource/format-*.any.js (and .htm),
// as the wire bytes each test's server sends and the events a browser must
// dispatch. The wpt message resource appends "\n\n" unless the test passes
// newline=none; that is written out here.
var wptVectors = []struct {
	name      string
	wire      string
	want      []conformance.Event
	wantRetry time.Duration
}{
	{
		name: "format-bom",
		wire: "\uFEFFdata:1\n\n\uFEFFdata:2\n\ndata:3\n\n",
		want: []conformance.Event{{Type: "message", Data: "1"}, {Type: "message", Data: "3"}},
	},
	{
		name: "format-bom-2",
		wire: "\uFEFF\uFEFFdata:1\n\ndata:2\n\ndata:3\n\n",
		want: []conformance.Event{{Type: "message", Data: "2"}, {Type: "message", Data: "3"}},
	},
	{
		name: "format-comments",
		wire: "data:1\r:\x00\n:\r\ndata:2\n:" + strings.Repeat("x", 2048) + "\rdata:3\n:data:fail\r:" +
			strings.Repeat("x", 2048) + "\ndata:4\n\n",
		want: []conformance.Event{{Type: "message", Data: "1\n2\n3\n4"}},
	},
	{
		name:      "format-data-before-final-empty-line",
		wire:      "retry:1000\ndata:test1\n\nid:test\ndata:test2",
		want:      []conformance.Event{{Type: "message", Data: "test1"}},
		wantRetry: time.Second,
	},
	{
		name: "format-field-data",
		wire: "data:\n\ndata\ndata\n\ndata:test\n\n",
		want: []conformance.Event{{Type: "message", Data: ""}, {Type: "message", Data: "\n"}, {Type: "message", Data: "test"}},
	},
	{
		name: "format-field-event",
		wire: "event:test\ndata:x\n\ndata:x\n\n",
		want: []conformance.Event{{Type: "test", Data: "x"}, {Type: "message", Data: "x"}},
	},
	{
		name: "format-field-event-empty",
		wire: "event: \ndata:data\n\n",
		want: []conformance.Event{{Type: "message", Data: "data"}},
	},
	{
		name: "format-field-id (unicode id)",
		wire: "id:…\ndata:hello\n\ndata:…\n\n",
		want: []conformance.Event{{Type: "message", Data: "hello", LastEventID: "…"}, {Type: "message", Data: "…", LastEventID: "…"}},
	},
	{
		name: "format-field-id-3 (persists, changes, resets)",
		wire: "id:1\ndata:a\n\ndata:b\n\nid:2\ndata:c\n\nid\ndata:d\n\ndata:e\n\n",
		want: []conformance.Event{
			{Type: "message", Data: "a", LastEventID: "1"}, {Type: "message", Data: "b", LastEventID: "1"},
			{Type: "message", Data: "c", LastEventID: "2"}, {Type: "message", Data: "d"}, {Type: "message", Data: "e"},
		},
	},
	{
		name: "format-field-id-null (an id with NUL is ignored)",
		wire: "id:1\ndata:a\n\nid:2\x003\ndata:b\n\n",
		want: []conformance.Event{{Type: "message", Data: "a", LastEventID: "1"}, {Type: "message", Data: "b", LastEventID: "1"}},
	},
	{
		name: "format-field-parsing",
		wire: "data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
		want: []conformance.Event{{Type: "message", Data: "\x00\n 2\n1\n3\n\n4"}},
	},
	{
		name:      "format-field-retry",
		wire:      "retry:03000\ndata:x\n\n",
		want:      []conformance.Event{{Type: "message", Data: "x"}},
		wantRetry: 3 * time.Second,
	},
	{
		name:      "format-field-retry-bogus",
		wire:      "retry:2000\nretry:1000x\ndata:x\n\n",
		want:      []conformance.Event{{Type: "message", Data: "x"}},
		wantRetry: 2 * time.Second,
	},
	{
		name: "format-field-retry-empty",
		wire: "retry\ndata:x\n\n",
		want: []conformance.Event{{Type: "message", Data: "x"}},
	},
	{
		name: "format-field-unknown",
		wire: "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
		want: []conformance.Event{{Type: "message", Data: "test\n\ntest"}},
	},
	{
		name: "format-leading-space",
		wire: "data:\ttest\rdata: \ndata:test\n\n",
		want: []conformance.Event{{Type: "message", Data: "\ttest\n\ntest"}},
	},
	{
		name: "format-newlines",
		wire: "data:test\r\ndata\ndata:test\r\n\r",
		want: []conformance.Event{{Type: "message", Data: "test\n\ntest"}},
	},
	{
		name: "format-null-character",
		wire: "data:\x00\n\n",
		want: []conformance.Event{{Type: "message", Data: "\x00"}},
	},
	{
		name: "format-utf-8 (invalid sequences become U+FFFD, one per maximal subpart)",
		wire: "data:ok…\xff\xe2\x82\xf0\x9f\x98\n\n",
		want: []conformance.Event{{Type: "message", Data: "ok…\uFFFD\uFFFD\uFFFD"}},
	},
	{
		name: "empty stream",
		wire: "",
	},
	{
		name: "only a comment and a blank line",
		wire: ":hi\n\n",
	},
}

func TestParserWPTVectors(t *testing.T) {
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one-byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	}
	for _, v := range wptVectors {
		for rname, mk := range readers {
			t.Run(v.name+"/"+rname, func(t *testing.T) {
				p := conformance.NewParser(mk(v.wire))
				var got []conformance.Event
				for {
					ev, err := p.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("Next: %v", err)
					}
					got = append(got, ev)
				}
				if !slices.Equal(got, v.want) {
					t.Errorf("events:\n got %q\nwant %q", got, v.want)
				}
				if p.Retry() != v.wantRetry {
					t.Errorf("retry = %v, want %v", p.Retry(), v.wantRetry)
				}
			})
		}
	}
}

func TestParserCommentsReported(t *testing.T) {
	p := conformance.NewParser(strings.NewReader(":one\n: two\ndata:x\n\n"))
	var comments []string
	p.OnComment = func(s string) { comments = append(comments, s) }
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"one", " two"}; !slices.Equal(comments, want) {
		t.Errorf("comments = %q, want %q", comments, want)
	}
}

func TestParserBoundsLines(t *testing.T) {
	p := conformance.NewParser(strings.NewReader("data:" + strings.Repeat("x", 10000)))
	p.MaxLine = 1000
	if _, err := p.Next(); !errors.Is(err, conformance.ErrLineTooLong) {
		t.Errorf("Next on a 10000-byte line with MaxLine 1000: %v, want ErrLineTooLong", err)
	}
}

func TestParserReadError(t *testing.T) {
	boom := errors.New("boom")
	p := conformance.NewParser(iotest.ErrReader(boom))
	if _, err := p.Next(); !errors.Is(err, boom) {
		t.Errorf("Next = %v, want the reader's error", err)
	}
}
