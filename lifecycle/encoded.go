package lifecycle

// Encoded is an event in its wire form, encoded once to be written to many
// sessions (a broadcast) without validating and encoding it again for each.
// Only Encode makes one, so every Encoded is valid; the zero Encoded is the
// zero Event's encoding (a message with empty data). An Encoded is an
// immutable value, safe for concurrent use.
type Encoded struct {
	wire string
}

// zeroWire is the zero Event's wire form.
const zeroWire = "data: \n\n"

// Encode validates e and returns its wire form, as Send would write it. It
// returns a *FieldError (matching ErrInvalidEvent) if e is invalid. Encode
// is safe for concurrent use; e.Data is copied.
func Encode(e Event) (Encoded, error) {
	if err := e.Validate(); err != nil {
		return Encoded{}, err
	}
	var buf [512]byte // most events: one allocation, the string
	return Encoded{wire: string(e.appendValid(buf[:0]))}, nil
}

// Len returns the length of the wire form in bytes.
func (x Encoded) Len() int { return len(x.bytes()) }

// String returns the wire form.
func (x Encoded) String() string { return x.bytes() }

func (x Encoded) bytes() string {
	if x.wire == "" {
		return zeroWire
	}
	return x.wire
}

// SendEncoded writes every event of evs, in order, with one write and one
// flush, as SendBatch does, without encoding them again. It returns an
// error matching ErrEnded at once if the session has ended, and otherwise
// the write error, which also ends the session. An empty evs writes
// nothing.
func (s *Session) SendEncoded(evs []Encoded) error {
	if st := s.ended.Load(); st != nil {
		return st.sendErr
	}
	if len(evs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	buf := s.buf[:0]
	for _, x := range evs {
		buf = append(buf, x.bytes()...)
	}
	if err := s.writeLocked(buf); err != nil {
		return err
	}
	s.events.Add(int64(len(evs)))
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	s.buf = buf
	return nil
}
