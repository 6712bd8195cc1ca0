package publish

import (
	"fmt"
	"strings"
)

// Topic ID rules of Pub/Sub resource names: 3 to 255 characters, starting
// with a letter, made of letters, digits and - . _ ~ + %, and not starting
// with "goog".
const (
	minTopicID = 3
	maxTopicID = 255
)

// fullTopicName returns the resource name projects/P/topics/T of name,
// which is either a topic ID (resolved in project) or already a full name.
// It fails, wrapping ErrInvalidOptions, when name or project is malformed.
func fullTopicName(project, name string) (string, error) {
	id := name
	if strings.Contains(name, "/") {
		parts := strings.Split(name, "/")
		if len(parts) != 4 || parts[0] != "projects" || parts[2] != "topics" {
			return "", fmt.Errorf("%w: topic %q is neither a topic ID nor projects/PROJECT/topics/TOPIC", ErrInvalidOptions, name)
		}
		project, id = parts[1], parts[3]
	}
	if project == "" || strings.Contains(project, "/") {
		return "", fmt.Errorf("%w: topic %q: project %q is empty or has a slash", ErrInvalidOptions, name, project)
	}
	if err := checkTopicID(id); err != nil {
		return "", fmt.Errorf("%w: topic %q: %v", ErrInvalidOptions, name, err)
	}
	return "projects/" + project + "/topics/" + id, nil
}

// checkTopicID reports why id is not a valid Pub/Sub topic ID, or nil.
func checkTopicID(id string) error {
	switch {
	case len(id) < minTopicID || len(id) > maxTopicID:
		return fmt.Errorf("topic ID must be %d to %d characters, got %d", minTopicID, maxTopicID, len(id))
	case !isLetter(id[0]):
		return fmt.Errorf("topic ID must start with a letter")
	case strings.HasPrefix(id, "goog"):
		return fmt.Errorf("topic ID must not start with \"goog\"")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isLetter(c) && !('0' <= c && c <= '9') && !strings.ContainsRune("-._~+%", rune(c)) {
			return fmt.Errorf("topic ID has a forbidden character %q", c)
		}
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
