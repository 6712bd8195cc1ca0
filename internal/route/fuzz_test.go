package route

import (
	"context"
	"strings"
	"testing"
)

// FuzzPath: any request path is either refused (ErrNotFound) or "/" or
// Prefix + one segment; only the configured token passes Check; the
// redacted form never holds the path's token.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"/", "/r/" + tok, "/r/", "/r/x/y", "/other", "", "/r/%2F", "//r/" + tok} {
		f.Add(s)
	}
	src, err := Static(tok)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string) {
		p, err := ParsePath(path)
		if err != nil {
			if p.Routed {
				t.Fatalf("ParsePath(%q) failed but says routed", path)
			}
			return
		}
		switch {
		case path == "/":
			if p.Routed {
				t.Fatalf("ParsePath(/) routed")
			}
		case !strings.HasPrefix(path, Prefix) || strings.Count(path, "/") != 2 || len(path) == len(Prefix):
			t.Fatalf("ParsePath(%q) accepted a path of another shape", path)
		}
		if p.Routed && len(path) > len(Prefix)+3 && strings.Contains(p.Redacted(), path[len(Prefix):]) {
			t.Fatalf("Redacted() = %q holds the token of %q", p.Redacted(), path)
		}
		err = p.Check(context.Background(), src)
		if ok := err == nil; ok != (!p.Routed || path == Prefix+tok) {
			t.Fatalf("ParsePath(%q).Check = %v", path, err)
		}
	})
}
