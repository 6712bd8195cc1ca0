//go:build !unix

package bench

import "time"

// processCPU is not measured off Unix: cpu-ns/op reads 0 there.
func processCPU() time.Duration { return 0 }
