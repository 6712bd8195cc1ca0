//go:build !unix

package emulator

import (
	"fmt"
	"runtime"
	"syscall"
)

func platformCheck() error {
	return fmt.Errorf("%w: emulators need process groups, which %s does not have", ErrNotInstalled, runtime.GOOS)
}

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) error { return platformCheck() }
