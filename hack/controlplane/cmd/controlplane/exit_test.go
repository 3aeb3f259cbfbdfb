package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFirstExitYieldsTheChildThatExitedWithItsLog(t *testing.T) {
	dir := t.TempDir()
	run := func(name, script string) *child {
		c, err := startChild(name, "/bin/sh", filepath.Join(dir, name+".log"), "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	running := run("running", `exec sleep 30`)
	defer running.stop(time.Second)
	failing := run("kube-controller-manager", `echo '"foo" is not in the list of known controllers' >&2; exit 1`)
	select {
	case c := <-firstExit(running, nil, failing):
		if c != failing {
			t.Fatalf("got %s, want %s", c.name, failing.name)
		}
		msg := exitedError(c).Error()
		if !strings.Contains(msg, "kube-controller-manager exited unexpectedly") || !strings.Contains(msg, "not in the list of known controllers") {
			t.Errorf("error lacks the name or the log's tail: %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported")
	}
}
