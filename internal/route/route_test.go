package route

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const tok = "c2VjcmV0LXJvdXRlLXRva2VuLWZvci10ZXN0cw"

func TestParseToken(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{tok, nil},
		{" " + tok + "\n", nil},
		{NewToken(), nil},
		{strings.Repeat("a", MinTokenBytes), nil},
		{strings.Repeat("a", MinTokenBytes-1), ErrInvalidToken},
		{strings.Repeat("a", MaxTokenBytes+1), ErrInvalidToken},
		{tok[:20] + "/" + tok[21:], ErrInvalidToken},
		{tok[:20] + "+" + tok[21:], ErrInvalidToken},
		{tok[:20] + "%2F" + tok[23:], ErrInvalidToken},
		{"", ErrInvalidToken},
	}
	for _, tt := range tests {
		_, err := ParseToken(tt.in)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("ParseToken(%q) = %v, want %v", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) && tt.in != "" {
			t.Errorf("ParseToken(%q) error %q holds the token", tt.in, err)
		}
	}
}

func TestNewToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) != 43 {
		t.Errorf("NewToken = %q, %q; want two different 43-character tokens", a, b)
	}
}

func TestPathCheck(t *testing.T) {
	src, err := Static(tok, NewToken())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		path      string
		src       Source
		routed    bool
		parseErr  error
		checkErr  error
		redaction string
	}{
		{"/", src, false, nil, nil, "/"},
		{"/", nil, false, nil, nil, "/"},
		{"/r/" + tok, src, true, nil, nil, "/r/…"},
		{"/r/" + tok, nil, true, nil, ErrUnknownToken, "/r/…"},
		{"/r/" + tok + "x", src, true, nil, ErrUnknownToken, "/r/…"},
		{"/r/" + tok[:len(tok)-1], src, true, nil, ErrUnknownToken, "/r/…"},
		{"/r/", src, false, ErrNotFound, nil, ""},
		{"/r/" + tok + "/x", src, false, ErrNotFound, nil, ""},
		{"/other", src, false, ErrNotFound, nil, ""},
		{"", src, false, ErrNotFound, nil, ""},
	}
	for _, tt := range tests {
		p, err := ParsePath(tt.path)
		if !errors.Is(err, tt.parseErr) || (tt.parseErr == nil) != (err == nil) {
			t.Errorf("ParsePath(%q) = %v, want %v", tt.path, err, tt.parseErr)
			continue
		}
		if err != nil {
			continue
		}
		if p.Routed != tt.routed || p.Redacted() != tt.redaction {
			t.Errorf("ParsePath(%q) = routed %v, redacted %q; want %v, %q", tt.path, p.Routed, p.Redacted(), tt.routed, tt.redaction)
		}
		if err := p.Check(ctx, tt.src); !errors.Is(err, tt.checkErr) || (tt.checkErr == nil) != (err == nil) {
			t.Errorf("ParsePath(%q).Check = %v, want %v", tt.path, err, tt.checkErr)
		}
	}
}

func TestStaticRefusesBadToken(t *testing.T) {
	if _, err := Static(tok, "short"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Static(bad) = %v, want ErrInvalidToken", err)
	}
}
