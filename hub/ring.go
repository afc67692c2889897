package hub

import "sort"

// ring is a FIFO of entries in a circular buffer that grows, by doubling,
// up to a bound: push, pop and index are O(1), and a search by position is
// O(log n). It is not safe for concurrent use.
type ring struct {
	buf  []Entry
	head int // index of the oldest entry in buf
	n    int
}

func (r *ring) len() int { return r.n }

// at returns the i-th oldest entry.
func (r *ring) at(i int) *Entry { return &r.buf[(r.head+i)%len(r.buf)] }

// push adds e as the newest entry, growing the buffer up to bound entries;
// the caller pops before pushing onto a ring of bound entries.
func (r *ring) push(e Entry, bound int) {
	if r.n == len(r.buf) {
		buf := make([]Entry, min(max(2*len(r.buf), 8), bound))
		for i := range r.n {
			buf[i] = *r.at(i)
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

// pop removes the oldest entry and returns it.
func (r *ring) pop() Entry {
	e := r.buf[r.head]
	r.buf[r.head] = Entry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return e
}

// after returns the index of the first entry with a Seq above seq (len if
// none). Entries are in Seq order.
func (r *ring) after(seq uint64) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).Pos.Seq > seq })
}
