package main

import "syscall"

// childSysProcAttr puts each child in its own process group (so a terminal
// Ctrl-C reaches only the launcher, which then shuts the children down in
// order, and so stop() can signal the whole group) and asks the kernel to
// SIGKILL the child if the launcher dies without cleaning up.
//
// Pdeathsig fires when the *thread* that started the child exits. The Go
// runtime does not retire threads unless a goroutine exits while locked to
// one with runtime.LockOSThread, which this program never does.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
