package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat. Linux has
// reported USER_HZ = 100 to user space on every architecture for decades;
// reading it properly needs sysconf(_SC_CLK_TCK), which needs cgo. At
// 10 ms a tick, a phase of tens of thousands of requests is resolved to
// about one percent.
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU a process (all its threads, user and system) has
// used so far, from /proc/PID/stat. Reading it while the process runs,
// before and after a phase, gives that phase's CPU; getrusage of a child
// would only tell it after the child exits, for all phases at once.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) from a stat line.
// The command name (field 2) is in parentheses and may hold spaces or
// parentheses itself, so fields are counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')' come field 3 (state) onward: utime is field 14, index 11.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: utime/stime %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
