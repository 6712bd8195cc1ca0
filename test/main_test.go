package test

import (
	"testing"

	"github.com/geminihook/geminihook/internal/emulator"
)

// TestMain stops the shared emulators when the suite ends and keeps their
// logs when a test failed.
func TestMain(m *testing.M) { emulator.Main(m) }
