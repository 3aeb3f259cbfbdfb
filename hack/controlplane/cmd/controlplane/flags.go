package main

import "strings"

// setFlag returns args with `--name=value`: an existing `--name=` entry is replaced where it
// stands, otherwise the flag is appended. Only the `--name=value` form is recognised, which
// is the only one the launcher writes.
func setFlag(args []string, name, value string) []string {
	entry := "--" + name + "=" + value
	for i, arg := range args {
		if strings.HasPrefix(arg, "--"+name+"=") {
			args[i] = entry
			return args
		}
	}
	return append(args, entry)
}

// unsetFlag returns args without any `--name=` entry.
func unsetFlag(args []string, name string) []string {
	kept := args[:0]
	for _, arg := range args {
		if !strings.HasPrefix(arg, "--"+name+"=") {
			kept = append(kept, arg)
		}
	}
	return kept
}
