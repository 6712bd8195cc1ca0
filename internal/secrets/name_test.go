package secrets

import (
	"errors"
	"strings"
	"testing"
)

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{
		"projects/p/secrets/s", "projects/123/secrets/a_b-C", "projects/example.com:p/secrets/s",
		"", "projects/p/secrets/s/versions/1", "projects//secrets/s", "projects/p/secrets/s\n", "projects/p/secrets/ß",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := checkName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("checkName(%q) = %v, want ErrInvalidName", name, err)
			}
			return
		}
		// Accepted names are four plain segments, safe to build version
		// names from and to log.
		p := strings.Split(name, "/")
		if len(p) != 4 || p[0] != "projects" || p[2] != "secrets" || p[1] == "" || p[3] == "" {
			t.Fatalf("checkName accepted %q", name)
		}
		for _, r := range name {
			if r < '!' || r > '~' {
				t.Fatalf("checkName accepted %q with character %q", name, r)
			}
		}
	})
}
