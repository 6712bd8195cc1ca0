//go:build linux

package bench

import (
	"fmt"
	"syscall"
	"unsafe"
)

// pinToCPU binds this process to CPU cpu (sched_setaffinity).
func pinToCPU(cpu int) error {
	if cpu < 0 || cpu >= 64 {
		return fmt.Errorf("cpu %d: want 0 to 63", cpu)
	}
	mask := uint64(1) << cpu
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask))); errno != 0 {
		return errno
	}
	return nil
}
