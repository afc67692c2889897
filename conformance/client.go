package conformance

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Stream is a test client's view of one open event stream: the response and
// a spec-exact Parser reading its body. Use it to test your own handlers the
// way the suite tests adapters. A Stream is not safe for concurrent use,
// except that Close may be called from any goroutine.
type Stream struct {
	Response *http.Response
	*Parser

	mu       sync.Mutex
	comments []Comment
	bytes    int64
}

// Comment is a comment line a Stream has read, with the time it was parsed.
type Comment struct {
	Text string
	At   time.Time
}

// Connect sends a GET request for url with the given headers (which may be
// nil) and returns the Stream once the response headers have arrived. It
// fails unless the status is 200 and the Content-Type is text/event-stream.
// Canceling ctx closes the stream.
func Connect(ctx context.Context, client *http.Client, url string, header http.Header) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("conformance: GET %s: status %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("conformance: GET %s: Content-Type %q, want text/event-stream", url, ct)
	}
	return NewStream(resp), nil
}

// NewStream returns a Stream reading resp's body.
func NewStream(resp *http.Response) *Stream {
	s := &Stream{Response: resp}
	s.Parser = NewParser(countingReader{resp.Body, s})
	s.Parser.OnComment = func(text string) {
		s.mu.Lock()
		s.comments = append(s.comments, Comment{Text: text, At: time.Now()})
		s.mu.Unlock()
	}
	return s
}

// Comments returns the comment lines read so far.
func (s *Stream) Comments() []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Comment(nil), s.comments...)
}

// BytesRead returns how many body bytes the stream has read so far.
func (s *Stream) BytesRead() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Close closes the response body, which closes the connection mid-stream.
func (s *Stream) Close() error { return s.Response.Body.Close() }

type countingReader struct {
	r io.Reader
	s *Stream
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.mu.Lock()
	c.s.bytes += int64(n)
	c.s.mu.Unlock()
	return n, err
}
