//go:build linux

package emulator

import "syscall"

// sysProcAttr puts the emulator in its own process group and asks the kernel
// to SIGKILL it when the thread that started it exits (see startProcess).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
