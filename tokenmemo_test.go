package geminihook

import (
	"strconv"
	"testing"
)

func TestTokenMemo(t *testing.T) {
	var m tokenMemo
	if m.reused("t1", "a") {
		t.Fatal("empty memo reports a reuse")
	}
	m.add("t1", "a")
	if m.reused("t1", "a") {
		t.Error("the same token for the same id is a retry, not a reuse")
	}
	if !m.reused("t1", "b") {
		t.Error("the same token for another id is not reported")
	}
	m.add("t1", "b") // never rebinds
	if !m.reused("t1", "b") {
		t.Error("add rebound a token to another id")
	}
	for i := range tokenMemoSize {
		m.add("x"+strconv.Itoa(i), "id")
	}
	if m.reused("t1", "b") {
		t.Error("the oldest token was not forgotten past tokenMemoSize")
	}
	if len(m.ids) != tokenMemoSize {
		t.Errorf("memo holds %d tokens, want at most %d", len(m.ids), tokenMemoSize)
	}
}
