package terraform_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The log-based metrics and alerts against the results the function logs.

// resultStatus is every result the function writes in the access line's
// result label, with the status it answers. The monitoring rules below
// are checked against it; TestResultsAreClassified keeps it equal to
// handler.go's Result constants and its statusFor.
var resultStatus = map[string]int{
	"published":           200,
	"duplicate":           200,
	"quarantined":         200,
	"in_flight":           409,
	"invalid_headers":     400,
	"bad_signature":       401,
	"stale_timestamp":     401,
	"bad_route_token":     401,
	"token_reused":        401,
	"not_found":           404,
	"method_not_allowed":  405,
	"timeout":             408,
	"too_large":           413,
	"truncated_body":      400,
	"keys_unavailable":    503,
	"backend_unavailable": 503,
	"misconfigured":       503,
}

// resultStatus must be handler.go's results with handler.go's statuses,
// and the deliveries metric and the README's table must name every result
// (the README's with its status).
func TestResultsAreClassified(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "handler.go"), nil, 0)
	if err != nil {
		t.Fatalf("reading the handler's results: %v", err)
	}
	inGo := map[string]bool{}         // result -> defined
	constValue := map[string]string{} // ResultX -> result
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Result") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					r, _ := strconv.Unquote(lit.Value)
					inGo[r] = true
					constValue[name.Name] = r
					if _, ok := resultStatus[r]; !ok {
						t.Errorf("handler.go's %s = %q is not in resultStatus: say which status it is, and whether it is a verification failure", name.Name, r)
					}
				}
			}
		}
	}
	if len(inGo) < 12 {
		t.Fatalf("found %d Result constants in handler.go", len(inGo))
	}
	for r := range resultStatus {
		if !inGo[r] {
			t.Errorf("resultStatus has %s, which is no Result constant of handler.go", r)
		}
	}
	// The statuses, from handler.go's `return http.StatusX, ResultY` pairs.
	codes := map[string]int{
		"StatusOK": 200, "StatusBadRequest": 400, "StatusUnauthorized": 401, "StatusNotFound": 404,
		"StatusMethodNotAllowed": 405, "StatusRequestTimeout": 408, "StatusConflict": 409,
		"StatusRequestEntityTooLarge": 413, "StatusInternalServerError": 500, "StatusServiceUnavailable": 503,
	}
	pairs := 0
	ast.Inspect(f, func(n ast.Node) bool {
		ret, ok := n.(*ast.ReturnStmt)
		if !ok || len(ret.Results) != 2 {
			return true
		}
		sel, ok1 := ret.Results[0].(*ast.SelectorExpr)
		id, ok2 := ret.Results[1].(*ast.Ident)
		if !ok1 || !ok2 || !strings.HasPrefix(sel.Sel.Name, "Status") || !strings.HasPrefix(id.Name, "Result") {
			return true
		}
		pairs++
		code, known := codes[sel.Sel.Name]
		if r := constValue[id.Name]; !known || resultStatus[r] != code {
			t.Errorf("handler.go answers %s with http.%s; resultStatus says %d", r, sel.Sel.Name, resultStatus[r])
		}
		return true
	})
	if pairs < 12 {
		t.Errorf("found %d status/result pairs in handler.go", pairs)
	}

	m := mustLoad(t)
	var desc string
	for _, b := range block(mustResource(t, m, "google_logging_metric.deliveries"), "metric_descriptor").Blocks {
		if k, _ := literalString(b.Body.Attributes["key"]); b.Type == "labels" && k == "result" {
			desc, _ = literalString(b.Body.Attributes["description"])
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// README's table of results: | `result` | status | meaning |
	inReadme := map[string]int{}
	for _, row := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|").FindAllStringSubmatch(string(readme), -1) {
		inReadme[row[1]], _ = strconv.Atoi(row[2])
	}
	for _, r := range sortedKeys(resultStatus) {
		if !regexp.MustCompile(`\b` + r + `\b`).MatchString(desc) {
			t.Errorf("the deliveries metric's result label does not list %s", r)
		}
		if inReadme[r] != resultStatus[r] {
			t.Errorf("README.md's table of results has %s answered %d, want %d", r, inReadme[r], resultStatus[r])
		}
	}
	for r := range inReadme {
		if _, ok := resultStatus[r]; !ok {
			t.Errorf("README.md's table of results lists %s, which is no result", r)
		}
	}
}

// The verification failures metric counts exactly the results answered 401:
// not invalid_headers (what scanners get), not the client's own mistakes.
func TestVerificationFailuresAreThe401s(t *testing.T) {
	m := mustLoad(t)
	filter := evalWith(t, m, mustResource(t, m, "google_logging_metric.verification_failures").Attributes["filter"].Expr, nil, nil).AsString()
	list := regexp.MustCompile(`labels\.result=\(([^)]*)\)`).FindStringSubmatch(filter)
	if list == nil {
		t.Fatalf("filter %q selects no results", filter)
	}
	var got, want []string
	for _, q := range regexp.MustCompile(`"([a-z_]+)"`).FindAllStringSubmatch(list[1], -1) {
		got = append(got, q[1])
	}
	for r, status := range resultStatus {
		if status == 401 {
			want = append(want, r)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("verification failures = %q, want the 401 results %q", got, want)
	}
	// And the 5xx alert reads Cloud Run's 5xx class: no client-side result
	// (4xx) can feed it.
	numerator := evalWith(t, m, block(block(mustResource(t, m, "google_monitoring_alert_policy.error_rate"), "conditions"), "condition_threshold").Attributes["filter"].Expr, nil, nil).AsString()
	if !strings.Contains(numerator, `metric.label.response_code_class="5xx"`) {
		t.Errorf("the error rate alert counts %q, not the 5xx class", numerator)
	}
	for r, status := range resultStatus {
		if status >= 500 && !strings.Contains(string(m.src["monitoring.tf"]), r) {
			t.Errorf("the 5xx result %s is not explained in monitoring.tf", r)
		}
	}
}

// The verification failure alert fires on a share of the requests with a
// minimum count, never on a fixed number of failures that scanners trip.
func TestVerificationAlertIsAShare(t *testing.T) {
	m := mustLoad(t)
	policy := mustResource(t, m, "google_monitoring_alert_policy.verification_failures")
	if c, _ := literalString(policy.Attributes["combiner"]); c != "AND" {
		t.Errorf("combiner = %q, want AND (a share and a minimum count)", c)
	}
	var share, minimum bool
	for _, b := range policy.Blocks {
		if b.Type != "conditions" {
			continue
		}
		ct := block(b.Body, "condition_threshold")
		if ct == nil {
			t.Fatal("a condition without condition_threshold")
		}
		filter := evalWith(t, m, ct.Attributes["filter"].Expr, nil, nil).AsString()
		comparison, _ := literalString(ct.Attributes["comparison"])
		threshold := ct.Attributes["threshold_value"].Expr
		switch {
		case ct.Attributes["denominator_filter"] != nil:
			denominator := evalWith(t, m, ct.Attributes["denominator_filter"].Expr, nil, nil).AsString()
			share = strings.Contains(filter, "verification_failures-name") && strings.Contains(denominator, "deliveries-name") &&
				comparison == "COMPARISON_GT" && refersTo(threshold, "var", "verification_failure_ratio")
			if !share {
				t.Errorf("ratio condition: %q over %q, %s %s", filter, denominator, comparison, threshold.Range())
			}
		case strings.Contains(filter, "deliveries-name"):
			minimum = comparison == "COMPARISON_GE" && refersTo(threshold, "var", "verification_failure_min_requests")
			if !minimum {
				t.Errorf("minimum condition: %s %s", comparison, threshold.Range())
			}
		default:
			t.Errorf("condition on %q: a fixed count of failures is what scanners trip", filter)
		}
	}
	if !share || !minimum {
		t.Errorf("ratio condition: %v, minimum request condition: %v; want both", share, minimum)
	}
	if m.variables["verification_failure_threshold"] != nil {
		t.Error("variable verification_failure_threshold (a fixed count) is back")
	}
}
