package terraform_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/geminihook/geminihook"
	"github.com/geminihook/geminihook/events"
)

// The function's limits in Terraform: the body bound and the timeouts.

// Terraform's max_body_bytes validation must allow exactly what the
// function allows: up to events.MaxBodyBytes (config.go refuses more).
func TestMaxBodyBytesBoundIsTheFunctions(t *testing.T) {
	m := mustLoad(t)
	bound := int64(events.MaxBodyBytes)
	accepts := func(n int64) bool {
		return validationAccepts(t, m, "max_body_bytes", cty.NumberIntVal(n))
	}
	if !accepts(bound) {
		t.Errorf("max_body_bytes validation refuses %d, events.MaxBodyBytes", bound)
	}
	if accepts(bound + 1) {
		t.Errorf("max_body_bytes validation accepts %d, above events.MaxBodyBytes = %d, which the function refuses", bound+1, bound)
	}
	if def, _ := m.variables["max_body_bytes"].Body.Attributes["default"].Expr.Value(nil); !accepts(mustInt(t, def)) || mustInt(t, def) != geminihook.DefaultMaxBodyBytes {
		t.Errorf("max_body_bytes default %v: want geminihook.DefaultMaxBodyBytes %d, accepted by the validation", def, geminihook.DefaultMaxBodyBytes)
	}
	for _, b := range m.variables["max_body_bytes"].Body.Blocks {
		if msg, _ := literalString(b.Body.Attributes["error_message"]); b.Type == "validation" && !strings.Contains(msg, strconv.Itoa(events.MaxBodyBytes)) {
			t.Errorf("the validation's error message does not name the bound %d: %q", events.MaxBodyBytes, msg)
		}
	}
}

// -------------------------------------------------------------- timeouts ---

// Cloud Run's request timeout sits just above the function's own deadline
// (GEMINIHOOK_REQUEST_TIMEOUT), derived from it: the function answers
// every request itself, and no slow client holds a connection for long.
func TestFunctionTimeoutIsJustAboveTheRequestTimeout(t *testing.T) {
	m := mustLoad(t)
	sc := block(mustResource(t, m, "google_cloudfunctions2_function.webhook"), "service_config")
	expr := sc.Attributes["timeout_seconds"].Expr
	for _, rt := range []int64{1, 8, 30, 60} {
		got := mustInt(t, evalWith(t, m, expr, map[string]cty.Value{"request_timeout_seconds": cty.NumberIntVal(rt)}, nil))
		if margin := got - rt; margin < 1 || margin > 5 {
			t.Errorf("request_timeout_seconds = %d: timeout_seconds = %d, want 1 to 5 s above it", rt, got)
		}
	}
	def := mustInt(t, evalWith(t, m, expr, nil, nil))
	if want := int64(geminihook.DefaultRequestTimeout.Seconds()) + 2; def != want {
		t.Errorf("by default timeout_seconds = %d, want %d (the function's default deadline + 2 s)", def, want)
	}
	if m.variables["function_timeout_seconds"] != nil {
		t.Error("variable function_timeout_seconds is back: the timeout follows request_timeout_seconds")
	}
}
