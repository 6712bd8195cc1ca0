//go:build !unix

package benchfn

import "time"

// processCPU is not measured on this platform.
func processCPU() time.Duration { return 0 }
