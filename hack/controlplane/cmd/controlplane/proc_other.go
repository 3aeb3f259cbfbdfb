//go:build !linux

package main

import "syscall"

// childSysProcAttr: outside Linux there is no parent-death signal; children
// still get their own process group and are stopped on every normal exit.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
