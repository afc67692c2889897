package conformance

import (
	"errors"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is an event as a browser's EventSource dispatches it.
type Event struct {
	Type        string // "message" unless the stream named another type
	Data        string // the data lines joined with LF
	LastEventID string // the last event ID in effect when it was dispatched
}

// ErrLineTooLong is returned by Parser.Next when a line exceeds MaxLine.
var ErrLineTooLong = errors.New("conformance: SSE line too long")

// DefaultMaxLine is the longest line a Parser accepts unless told otherwise.
const DefaultMaxLine = 16 << 20

// Parser reads an event stream with the WHATWG HTML "Server-sent events"
// interpretation algorithm, exactly as a browser does: the stream is decoded
// as UTF-8 (invalid sequences become U+FFFD), one leading BOM is skipped,
// lines end at CRLF, CR or LF, ids containing NUL are ignored, an empty id
// resets the last event ID, retry takes ASCII digits only, and an event not
// followed by a blank line before the end of the stream is discarded.
//
// A Parser is not safe for concurrent use.
type Parser struct {
	// OnComment, if set, is called with the text after the colon of every
	// comment line, in stream order, from within Next.
	OnComment func(text string)

	// MaxLine bounds the length of one line in bytes, so that a hostile
	// stream cannot make the parser buffer without limit. Zero means
	// DefaultMaxLine.
	MaxLine int

	r       io.Reader
	buf     []byte // bytes read but not yet consumed
	atStart bool   // no line has been read yet: a BOM may follow
	skipLF  bool   // the last line ended in CR: a following LF is part of it
	eof     bool

	data      strings.Builder
	eventType string
	idBuf     string
	lastID    string
	retry     time.Duration
}

// NewParser returns a Parser reading from r.
func NewParser(r io.Reader) *Parser {
	return &Parser{r: r, atStart: true}
}

// Retry returns the reconnection time the stream has set so far, or 0.
func (p *Parser) Retry() time.Duration { return p.retry }

// LastEventID returns the last event ID string as it stands now.
func (p *Parser) LastEventID() string { return p.lastID }

// Next returns the next dispatched event. At the end of the stream it
// returns io.EOF (any event without its terminating blank line is
// discarded, as the standard requires); a read error is returned as is.
func (p *Parser) Next() (Event, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return Event{}, err
		}
		if ev, ok := p.processLine(line); ok {
			return ev, nil
		}
	}
}

// processLine applies one line; it reports an event when the line dispatches one.
func (p *Parser) processLine(line string) (Event, bool) {
	if line == "" {
		return p.dispatch()
	}
	if line[0] == ':' {
		if p.OnComment != nil {
			p.OnComment(line[1:])
		}
		return Event{}, false
	}
	field, value := line, ""
	if i := strings.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		value = strings.TrimPrefix(value, " ")
	}
	switch field {
	case "event":
		p.eventType = value
	case "data":
		p.data.WriteString(value)
		p.data.WriteByte('\n')
	case "id":
		if !strings.Contains(value, "\x00") {
			p.idBuf = value
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			p.retry = time.Duration(ms) * time.Millisecond
		}
	}
	return Event{}, false
}

func (p *Parser) dispatch() (Event, bool) {
	p.lastID = p.idBuf
	if p.data.Len() == 0 {
		p.eventType = ""
		return Event{}, false
	}
	data := strings.TrimSuffix(p.data.String(), "\n")
	ev := Event{Type: p.eventType, Data: data, LastEventID: p.lastID}
	if ev.Type == "" {
		ev.Type = "message"
	}
	p.data.Reset()
	p.eventType = ""
	return ev, true
}

// parseDigits parses a non-empty string of ASCII digits.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<62)/10 {
			return 0, false // too large to be meaningful; a browser would clamp
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// readLine returns the next line, decoded, without its terminator.
func (p *Parser) readLine() (string, error) {
	maxLine := p.MaxLine
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	scanned := 0
	for {
		if p.skipLF && len(p.buf) > 0 {
			if p.buf[0] == '\n' {
				p.buf = p.buf[1:]
			}
			p.skipLF = false
		}
		for i := scanned; i < len(p.buf); i++ {
			if c := p.buf[i]; c == '\n' || c == '\r' {
				raw := p.buf[:i]
				p.buf = p.buf[i+1:]
				p.skipLF = c == '\r'
				return p.decode(raw), nil
			}
		}
		scanned = len(p.buf)
		if scanned > maxLine {
			return "", ErrLineTooLong
		}
		if p.eof {
			return "", io.EOF // a trailing line without terminator is not a line
		}
		if err := p.fill(); err != nil {
			if err != io.EOF {
				return "", err
			}
			p.eof = true
		}
	}
}

// fill reads more of the stream into buf.
func (p *Parser) fill() error {
	if cap(p.buf)-len(p.buf) < 4096 {
		nb := make([]byte, len(p.buf), 2*cap(p.buf)+8192)
		copy(nb, p.buf)
		p.buf = nb
	}
	n, err := p.r.Read(p.buf[len(p.buf):cap(p.buf)])
	p.buf = p.buf[:len(p.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		return nil
	}
	return err
}

// decode turns a raw line into text with the WHATWG UTF-8 decoder, which
// replaces each maximal ill-formed subsequence with one U+FFFD, and drops a
// BOM at the very start of the stream.
func (p *Parser) decode(raw []byte) string {
	if p.atStart {
		p.atStart = false
		if len(raw) >= 3 && raw[0] == 0xEF && raw[1] == 0xBB && raw[2] == 0xBF {
			raw = raw[3:]
		}
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	var b strings.Builder
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		if r == utf8.RuneError && size <= 1 {
			size = maximalSubpart(raw)
		}
		b.WriteRune(r)
		raw = raw[size:]
	}
	return b.String()
}

// maximalSubpart returns the length of the ill-formed sequence at the start
// of b that the WHATWG decoder replaces with a single U+FFFD: the lead byte
// and as many following bytes as could still begin a valid sequence.
func maximalSubpart(b []byte) int {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead >= 0xE0 && lead <= 0xEF:
		need = 2
		if lead == 0xE0 {
			lo = 0xA0
		} else if lead == 0xED {
			hi = 0x9F
		}
	case lead >= 0xF0 && lead <= 0xF4:
		need = 3
		if lead == 0xF0 {
			lo = 0x90
		} else if lead == 0xF4 {
			hi = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		c := b[n]
		if c < lo || c > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
