package publish

import (
	"errors"
	"strings"
	"testing"
)

func TestFullTopicName(t *testing.T) {
	tests := []struct {
		project, name string
		want          string // "" means ErrInvalidOptions
	}{
		{"p", "events", "projects/p/topics/events"},
		{"p", "projects/q/topics/events", "projects/q/topics/events"},
		{"p", "Ev.e_n~t+s%2Fx-1", "projects/p/topics/Ev.e_n~t+s%2Fx-1"},
		{"p", "abc", "projects/p/topics/abc"},
		{"p", "a" + strings.Repeat("b", 254), "projects/p/topics/a" + strings.Repeat("b", 254)},
		{"p", "a" + strings.Repeat("b", 255), ""},
		{"p", "ab", ""},
		{"p", "", ""},
		{"p", "9lives", ""},
		{"p", "-events", ""},
		{"p", "goog-events", ""},
		{"p", "events!", ""},
		{"p", "évents", ""},
		{"p", "events\x00", ""},
		{"", "events", ""},
		{"p", "projects//topics/events", ""},
		{"p", "projects/q/topics/", ""},
		{"p", "project/q/topics/events", ""},
		{"p", "projects/q/topic/events", ""},
		{"p", "projects/q/topics/events/", ""},
		{"p", "/events", ""},
		{"p", "q/events", ""},
	}
	for _, tt := range tests {
		got, err := fullTopicName(tt.project, tt.name)
		if tt.want == "" {
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("fullTopicName(%q, %q) = %q, %v; want ErrInvalidOptions", tt.project, tt.name, got, err)
			}
			continue
		}
		if got != tt.want || err != nil {
			t.Errorf("fullTopicName(%q, %q) = %q, %v; want %q", tt.project, tt.name, got, err, tt.want)
		}
	}
}

// Whatever the input, a name that is accepted is a well-formed full name
// that resolves to itself.
func FuzzFullTopicName(f *testing.F) {
	f.Add("p", "events")
	f.Add("p", "projects/q/topics/events")
	f.Add("p", "projects/q/topics/a/b")
	f.Add("", "goog")
	f.Add("p/x", "events")
	f.Fuzz(func(t *testing.T, project, name string) {
		got, err := fullTopicName(project, name)
		if err != nil {
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("fullTopicName(%q, %q) error %v does not wrap ErrInvalidOptions", project, name, err)
			}
			return
		}
		parts := strings.Split(got, "/")
		if len(parts) != 4 || parts[0] != "projects" || parts[1] == "" || parts[2] != "topics" || checkTopicID(parts[3]) != nil {
			t.Fatalf("fullTopicName(%q, %q) = %q, not a valid full name", project, name, got)
		}
		again, err := fullTopicName("other", got)
		if again != got || err != nil {
			t.Fatalf("fullTopicName(other, %q) = %q, %v; want it unchanged", got, again, err)
		}
	})
}
