package testserver

import (
	"os/exec"
	"syscall"
)

// dieWithTheTests has the kernel kill cmd's process when the test binary
// exits. (Linux sends the signal when the thread that started the process
// ends; the Go runtime keeps its threads, no test locks one.)
func dieWithTheTests(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
