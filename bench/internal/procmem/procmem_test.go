package procmem

import (
	"os"
	"testing"
)

func TestParse(t *testing.T) {
	status := "Name:\tkeel\nVmPeak:\t 1000 kB\nVmHWM:\t   78336 kB\nVmRSS:\t   40960 kB\nRssAnon:\t   10240 kB\nRssFile:\t   30720 kB\nThreads:\t9\n"
	m, err := Parse([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.Peak != 78336<<10 || m.RSS != 40960<<10 || m.Anon != 10240<<10 || m.File != 30720<<10 {
		t.Errorf("got %+v", m)
	}
	for _, bad := range []string{"Name:\tk\n", "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\nRssAnon:\t 1 kB\nRssFile:\t 1 kB\n", "VmRSS:\t 1 kB\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

func TestOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here:", err)
	}
	m, err := Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Errorf("own memory %+v: want a positive resident set no larger than its peak", m)
	}
}
