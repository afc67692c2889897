package lifecycle

import (
	"strconv"
	"strings"
	"time"
)

// Event is one server-sent event. The zero Event is valid: it is sent as a
// message with empty data, which the client still dispatches.
//
// An Event is a plain value; sending it does not retain Data after Send
// returns, so the caller may reuse the slice.
type Event struct {
	// ID sets the client's last event ID, which it sends back in the
	// Last-Event-ID header when it reconnects. An empty ID writes no id field
	// (use Session.ResetLastID to clear the client's ID deliberately). ID must
	// not contain CR, LF or NUL.
	ID string

	// Type is the event type the client dispatches on ("event" field). Empty
	// means the default type, "message". Type must not contain CR or LF.
	Type string

	// Data is the payload. It is split on CRLF, CR and LF into one data line
	// each, so no payload can inject a field or a second event; the client
	// joins the lines back with LF. Data is written byte for byte otherwise
	// (invalid UTF-8 is not rejected: the client decodes the stream as UTF-8
	// and replaces invalid sequences with U+FFFD).
	Data []byte

	// Retry, when positive, asks the client to wait this long before
	// reconnecting. It is written in whole milliseconds (truncated). Negative
	// values are rejected.
	Retry time.Duration

	// Comment, when not empty, is written before the event as comment lines
	// (one per line of Comment). Clients ignore comments.
	Comment string
}

// Validate reports whether e can be encoded: an ID or Type containing a line
// break, an ID containing NUL, or a negative Retry is rejected with a
// *FieldError naming the field.
func (e *Event) Validate() error {
	if i := strings.IndexAny(e.ID, "\r\n\x00"); i >= 0 {
		return &FieldError{Field: "ID", Reason: forbidden(e.ID[i])}
	}
	if i := strings.IndexAny(e.Type, "\r\n"); i >= 0 {
		return &FieldError{Field: "Type", Reason: forbidden(e.Type[i])}
	}
	if e.Retry < 0 {
		return &FieldError{Field: "Retry", Reason: "is negative"}
	}
	return nil
}

func forbidden(c byte) string {
	switch c {
	case '\r':
		return "contains CR"
	case '\n':
		return "contains LF"
	default:
		return "contains NUL"
	}
}

// AppendTo validates e and appends its wire form to dst, ending with the blank
// line that dispatches it. On error dst is returned unchanged.
//
// The wire form follows the WHATWG HTML "Server-sent events" rules: comment
// lines first, then retry, id, event and one data line per line of Data, each
// field written with one space after the colon so that a value starting with a
// space survives.
func (e *Event) AppendTo(dst []byte) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	return e.appendValid(dst), nil
}

// appendValid appends e's wire form; e must have passed Validate.
func (e *Event) appendValid(dst []byte) []byte {
	if e.Comment != "" {
		dst = appendComment(dst, e.Comment)
	}
	if e.Retry > 0 {
		dst = appendRetry(dst, e.Retry)
	}
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Type...)
		dst = append(dst, '\n')
	}
	dst = appendLines(dst, "data: ", e.Data)
	return append(dst, '\n')
}

// appendComment appends text as comment lines, one per line of text.
func appendComment(dst []byte, text string) []byte {
	return appendLines(dst, ": ", text)
}

// appendRetry appends a retry field in whole milliseconds.
func appendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, d.Milliseconds(), 10)
	return append(dst, '\n')
}

// appendLines appends one prefix-led line per line of s, splitting on CRLF,
// CR and LF. An empty s still yields one (empty) line.
func appendLines[T string | []byte](dst []byte, prefix string, s T) []byte {
	for {
		i := indexLineBreak(s)
		dst = append(dst, prefix...)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, '\n')
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, '\n')
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

// indexLineBreak returns the index of the first CR or LF in s, or -1.
func indexLineBreak[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}
