package localnet

import (
	"context"
	"net"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true,
		"0.0.0.0": false, "10.0.0.1": false, "example.com": false, "": false, "[::1]": false, "127.0.0.1:80": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := Probe(context.Background(), addr); err != nil {
		t.Errorf("Probe(listening %s) = %v", addr, err)
	}
	l.Close()
	err = Probe(context.Background(), addr)
	if err == nil || !IsRefused(err) {
		t.Errorf("Probe(closed %s) = %v, want a refused dial", addr, err)
	}
	if IsRefused(context.DeadlineExceeded) {
		t.Error("IsRefused(context.DeadlineExceeded) = true")
	}
}
