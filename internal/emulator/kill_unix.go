//go:build unix

package emulator

import (
	"errors"
	"syscall"
)

func platformCheck() error { return nil }

// killGroup sends SIGKILL to every process of the group led by pid.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
