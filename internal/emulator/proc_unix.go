//go:build unix && !linux

package emulator

import "syscall"

// sysProcAttr puts the emulator in its own process group. Pdeathsig does not
// exist here: only Stop and Main protect against orphans.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
