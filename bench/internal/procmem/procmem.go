// Package procmem reads a Linux process's resident memory from
// /proc/PID/status, for the benchmark harnesses in bench/.
package procmem

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident set now and at its peak (VmRSS, VmHWM),
// and what it is made of now: anonymous memory (heap, stacks) and pages of
// files (mostly the executable's own code and read-only data, shared and
// clean, which the kernel may drop and read again). All in bytes.
type Memory struct{ RSS, Peak, Anon, File int64 }

// Of reads process pid's memory.
func Of(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return Parse(b)
}

// Parse reads VmRSS, VmHWM, RssAnon and RssFile ("VmHWM:	  12345 kB") from
// the text of a /proc/PID/status file.
func Parse(b []byte) (Memory, error) {
	var m Memory
	var seen int
	for line := range bytes.Lines(b) {
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &m.RSS
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &m.Peak
		case bytes.HasPrefix(line, []byte("RssAnon:")):
			dst = &m.Anon
		case bytes.HasPrefix(line, []byte("RssFile:")):
			dst = &m.File
		default:
			continue
		}
		f := strings.Fields(string(line))
		if len(f) != 3 || f[2] != "kB" {
			return Memory{}, fmt.Errorf("proc status: unexpected line %q", line)
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("proc status: %q: %w", line, err)
		}
		*dst = kb << 10
		seen++
	}
	if seen != 4 {
		return Memory{}, fmt.Errorf("proc status: want VmRSS, VmHWM, RssAnon and RssFile, found %d of them", seen)
	}
	return m, nil
}
