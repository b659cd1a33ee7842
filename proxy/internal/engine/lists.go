package engine

// Intrusive doubly linked lists: membership costs two pointers in the
// connection struct and no allocation, which keeps connection churn and the
// per-tick sweep allocation-free.

type downList struct {
	head, tail *downConn
	n          int
}

func (l *downList) push(d *downConn) {
	d.prev, d.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = d
	} else {
		l.head = d
	}
	l.tail = d
	l.n++
}

func (l *downList) remove(d *downConn) {
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		l.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		l.tail = d.prev
	}
	d.prev, d.next = nil, nil
	l.n--
}

// upList holds upstream connections. Pools use it as a stack (most recently
// used first, so the least recently used drift to the tail and time out).
type upList struct {
	head, tail *upConn
	n          int
}

func (l *upList) pushFront(u *upConn) {
	u.list = l
	u.prev, u.next = nil, l.head
	if l.head != nil {
		l.head.prev = u
	} else {
		l.tail = u
	}
	l.head = u
	l.n++
}

func (l *upList) popFront() *upConn {
	u := l.head
	if u != nil {
		l.remove(u)
	}
	return u
}

func (l *upList) remove(u *upConn) {
	if u.prev != nil {
		u.prev.next = u.next
	} else {
		l.head = u.next
	}
	if u.next != nil {
		u.next.prev = u.prev
	} else {
		l.tail = u.prev
	}
	u.prev, u.next, u.list = nil, nil, nil
	l.n--
}
