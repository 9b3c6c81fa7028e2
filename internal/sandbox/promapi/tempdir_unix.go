//go:build unix

package promapi

import (
	"errors"
	"os"
	"syscall"
)

// processGone reports whether no process pid runs and dir belongs to this
// user: only then is the folder a dead sandbox's that we may remove.
func processGone(pid int, dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
