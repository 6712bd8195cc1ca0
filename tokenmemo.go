package geminihook

import "sync"

// tokenMemoSize bounds the tokens an instance remembers: far more than the
// JWT deliveries of one token lifetime (an hour) on one instance.
const tokenMemoSize = 4096

// tokenMemo remembers which webhook id each recent single-use token (a
// JWT's TokenID) authenticated on this instance, so that a token replayed
// here with another id is refused before any backend call. The ledger is
// the authority across instances; this only saves it the round trips. The
// oldest entry is forgotten first.
type tokenMemo struct {
	mu    sync.Mutex
	ids   map[string]string // token → webhook id
	order [tokenMemoSize]string
	next  int
}

// reused reports whether token is known to have authenticated another id.
func (t *tokenMemo) reused(token, id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	got, ok := t.ids[token]
	return ok && got != id
}

// add records that token authenticated id.
func (t *tokenMemo) add(token, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = make(map[string]string, tokenMemoSize)
	}
	if _, ok := t.ids[token]; ok {
		return
	}
	if old := t.order[t.next]; old != "" {
		delete(t.ids, old)
	}
	t.order[t.next] = token
	t.next = (t.next + 1) % tokenMemoSize
	t.ids[token] = id
}
