package ledger

// MemoryLen is the number of records m holds, expired ones included.
func MemoryLen(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}
