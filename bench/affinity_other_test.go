//go:build !linux

package bench

import "errors"

func pinToCPU(int) error { return errors.New("CPU pinning needs Linux") }
