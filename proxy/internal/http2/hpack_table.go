package http2

// hpackTable is an RFC 7541 §2.3.2 dynamic table: entries are added at the
// front (index 1 is the newest) and evicted from the back. Names and values
// live back to back in one byte ring (data), entry bounds in a second ring
// (ents), so adding and evicting never allocate per entry. Both rings grow
// by doubling on demand, up to what limit can ever hold, so a connection
// whose peer indexes little holds little.
type hpackTable struct {
	data       []byte
	head, used uint32 // data ring: offset of the oldest entry's first byte, bytes in use
	ents       []tableEntry
	first, n   uint32 // ents ring: oldest entry, number of entries
	size       uint32 // RFC 7541 §4.1 size: sum of len(name)+len(value)+32
	max        uint32 // current maximum size (last size update)
	limit      uint32 // max may never exceed this (the advertised setting)
}

type tableEntry struct{ off, nameLen, valueLen uint32 }

// reset empties t and sets both its maximum size and its limit to limit,
// keeping the rings' memory if there is any.
func (t *hpackTable) reset(limit uint32) {
	t.head, t.used, t.first, t.n, t.size = 0, 0, 0, 0, 0
	t.max, t.limit = limit, limit
	if uint32(len(t.data)) > limit {
		t.data = t.data[:limit]
	}
	if m := maxEntries(limit); uint32(len(t.ents)) > m {
		t.ents = t.ents[:m]
	}
}

// maxEntries is how many entries a table of maximum size limit can hold.
func maxEntries(limit uint32) uint32 { return limit / entryOverhead }

// setMax applies a dynamic table size update (the caller checked it
// against the limit), evicting what no longer fits.
func (t *hpackTable) setMax(v uint32) {
	t.max = v
	t.evictTo(v)
}

// evictTo evicts the oldest entries until the table's size is at most v.
func (t *hpackTable) evictTo(v uint32) {
	for t.size > v && t.n > 0 {
		e := t.ents[t.first]
		l := e.nameLen + e.valueLen
		t.size -= l + entryOverhead
		t.head = t.wrap(t.head + l)
		t.used -= l
		t.first = (t.first + 1) % uint32(len(t.ents))
		t.n--
	}
	if t.n == 0 {
		t.head, t.used, t.first = 0, 0, 0
	}
}

// add inserts (name, value) as the newest entry (RFC 7541 §4.4): older
// entries are evicted until it fits, and an entry larger than the maximum
// size empties the table and is not added. name and value must not point
// into t.data: an eviction here may overwrite them.
func (t *hpackTable) add(name, value []byte) {
	l := uint32(len(name) + len(value))
	sz := uint64(l) + entryOverhead
	if sz > uint64(t.max) {
		t.evictTo(0)
		return
	}
	t.evictTo(t.max - uint32(sz))
	if t.used+l > uint32(len(t.data)) {
		t.growData(t.used + l)
	}
	if t.n == uint32(len(t.ents)) {
		t.growEnts()
	}
	off := t.wrap(t.head + t.used)
	t.write(off, name)
	t.write(t.wrap(off+uint32(len(name))), value)
	t.used += l
	t.ents[(t.first+t.n)%uint32(len(t.ents))] = tableEntry{off, uint32(len(name)), uint32(len(value))}
	t.n++
	t.size += uint32(sz)
}

// wrap maps an offset one ring length or less beyond the data ring's end
// back into it (an empty ring holds only empty entries, all at 0).
func (t *hpackTable) wrap(off uint32) uint32 {
	if off >= uint32(len(t.data)) {
		return off - uint32(len(t.data))
	}
	return off
}

// write copies b into the data ring at off, wrapping at its end.
func (t *hpackTable) write(off uint32, b []byte) {
	k := copy(t.data[off:], b)
	copy(t.data, b[k:])
}

// appendRing appends l bytes of the data ring starting at off to dst.
func (t *hpackTable) appendRing(dst []byte, off, l uint32) []byte {
	end := off + l
	if end <= uint32(len(t.data)) {
		return append(dst, t.data[off:end]...)
	}
	dst = append(dst, t.data[off:]...)
	return append(dst, t.data[:end-uint32(len(t.data))]...)
}

// entry returns dynamic entry i, 1 being the newest; ok is false beyond the table.
func (t *hpackTable) entry(i uint32) (e tableEntry, ok bool) {
	if i == 0 || i > t.n {
		return e, false
	}
	return t.ents[(t.first+t.n-i)%uint32(len(t.ents))], true
}

// equalAt reports whether the l bytes of the data ring at off equal b.
func (t *hpackTable) equalAt(off uint32, b []byte) bool {
	k := min(uint32(len(t.data))-off, uint32(len(b)))
	return string(t.data[off:off+k]) == string(b[:k]) && string(t.data[:uint32(len(b))-k]) == string(b[k:])
}

// find returns the dynamic index (1 = newest) of the entry equal to (name,
// value) if there is one (full true), else of the newest with that name,
// else 0. It scans the table, which the encoder keeps small.
func (t *hpackTable) find(name, value []byte) (idx uint32, full bool) {
	for i := uint32(1); i <= t.n; i++ {
		e := t.ents[(t.first+t.n-i)%uint32(len(t.ents))]
		if e.nameLen != uint32(len(name)) || !t.equalAt(e.off, name) {
			continue
		}
		if e.valueLen == uint32(len(value)) && t.equalAt(t.wrap(e.off+e.nameLen), value) {
			return i, true
		}
		if idx == 0 {
			idx = i
		}
	}
	return idx, false
}

// growData makes the data ring hold at least need bytes, laying the
// entries out from offset 0 again.
func (t *hpackTable) growData(need uint32) {
	c := max(need, 2*uint32(len(t.data)), 256)
	c = min(c, t.limit)
	c = max(c, need) // need <= max <= limit; kept for safety
	nd := make([]byte, c)
	var off uint32
	for i := range t.n {
		j := (t.first + i) % uint32(len(t.ents))
		e := &t.ents[j]
		l := e.nameLen + e.valueLen
		t.appendRing(nd[:off], e.off, l) // within nd's capacity: no reallocation
		e.off = off
		off += l
	}
	t.data, t.head = nd, 0
}

// growEnts doubles the entry ring, oldest entry first again.
func (t *hpackTable) growEnts() {
	c := min(max(2*uint32(len(t.ents)), 8), max(maxEntries(t.limit), 1))
	if c <= t.n {
		c = t.n + 1
	}
	ne := make([]tableEntry, c)
	for i := range t.n {
		ne[i] = t.ents[(t.first+i)%uint32(len(t.ents))]
	}
	t.ents, t.first = ne, 0
}
